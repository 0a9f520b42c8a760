"""Deployment: backups while the bot writes, the image's and the service unit's start commands, .env.example,
and /my_data telling a new admin their numeric id.

Docker is not available where these tests run, so the image is not built: the test runs the Dockerfile's
ENTRYPOINT + CMD (with its ENV) as installed here, against the local Bot API double.
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
import yaml

from bot.cli import main
from bot.settings import Settings
from storage.preflight import check_url
from tests.fake_botapi import FakeBotAPI
from tests.harness import E2E_TOKEN, ROOT, QueuedUser, Respondent
from tests.recording import SimUser

VENV_BIN = Path(sys.executable).parent


def counts(path: Path) -> dict[str, int]:
    with closing(sqlite3.connect(path)) as con:
        return {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("respondents", "responses", "answers", "answer_choices")}


# ------------------------------------------------------------------ backup
async def test_backup_while_respondents_answer(bot, settings, tmp_path, monkeypatch, capsys):
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("backup copies SQLite; PostgreSQL uses pg_dump")
    app, request = bot
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.chdir(tmp_path)
    source = Path(settings.database_url.split("///", 1)[1])
    people = [Respondent(QueuedUser(app, request, 7100 + i), app.bot_data.survey, seed=i) for i in range(8)]
    writers = asyncio.gather(*(p.run() for p in people))
    backups: list[tuple[Path, int]] = []
    while not writers.done():
        target = tmp_path / f"backup-{len(backups)}.db"
        code = await asyncio.to_thread(main, ["backup", str(target)])
        assert code == 0, capsys.readouterr().err
        backups.append((target, 0))
        await asyncio.sleep(0.05)
    await writers
    final = tmp_path / "final.db"
    assert await asyncio.to_thread(main, ["backup", str(final)]) == 0
    assert len(backups) >= 2, "backups were taken while answers were being written"
    previous = 0
    for path, _ in backups + [(final, 0)]:
        with closing(sqlite3.connect(path)) as con:
            assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert con.execute("PRAGMA foreign_key_check").fetchall() == []
            assert con.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
            # Every choice row belongs to a stored answer: one snapshot, not a torn copy.
            assert con.execute(
                "SELECT COUNT(*) FROM answer_choices c LEFT JOIN answers a "
                "ON a.response_id = c.response_id AND a.question_id = c.question_id WHERE a.response_id IS NULL"
            ).fetchone()[0] == 0
        n = counts(path)["answers"]
        assert n >= previous, "each backup holds at least what the one before held"
        previous = n
        assert not Path(f"{path}-wal").exists()
    assert counts(final) == counts(source)
    assert counts(final)["responses"] == 8
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [], "no partial file left"
    out = capsys.readouterr().out
    assert f"wrote {final} (" in out and "8 responses" in out.splitlines()[-1]


def test_backup_mistakes_are_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", "sqlite+aiosqlite:///surveybot.db")
    assert main(["backup", "b.db"]) == 2
    assert f"no database at {tmp_path / 'surveybot.db'}" in capsys.readouterr().err
    assert main(["migrate"]) == 0
    (tmp_path / "taken.db").write_text("x")
    cases = {
        "taken.db": "surveybot: taken.db already exists: give the backup a new name",
        "nowhere/b.db": f"surveybot: cannot write nowhere/b.db: the folder {tmp_path / 'nowhere'} does not exist",
    }
    for target, expected in cases.items():
        capsys.readouterr()
        assert main(["backup", target]) == 2
        err = capsys.readouterr().err
        assert err.startswith(expected) and len(err.strip().splitlines()) == 1, err
    assert (tmp_path / "taken.db").read_text() == "x"
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://bot:secret@127.0.0.1/survey")
    assert main(["backup", "b.db"]) == 2
    err = capsys.readouterr().err
    assert "use pg_dump" in err and "secret" not in err


# ------------------------------------------------------------------ the image and the unit start the bot
def dockerfile() -> tuple[list[str], dict[str, str], str | None]:
    """ENTRYPOINT + CMD, ENV and USER of the final stage of the Dockerfile."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    final = text.split("\nFROM ")[-1]
    joined = re.sub(r"\\\n\s*", " ", final)
    entry = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", joined, re.M).group(1))
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", joined, re.M).group(1))
    env: dict[str, str] = {}
    for line in re.findall(r"^ENV (.*)$", joined, re.M):
        for item in shlex.split(line):
            key, _, value = item.partition("=")
            env[key] = value
    user = re.search(r"^USER (\S+)$", joined, re.M)
    return entry + cmd, env, user.group(1) if user else None


def unit() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in (ROOT / "deploy" / "surveybot.service").read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def start_and_talk(argv: list[str], env: dict[str, str], cwd: Path) -> None:
    """Start argv against a local Bot API double; a user gets the welcome; SIGINT stops it cleanly."""
    with FakeBotAPI() as api:
        full = {"PATH": f"{VENV_BIN}:/usr/bin:/bin", "PYTHONPATH": str(ROOT), **env,
                "BOT_TOKEN": E2E_TOKEN, "TELEGRAM_API_URL": api.url, "ADMIN_IDS": "555002"}
        proc = subprocess.Popen(argv, env=full, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            user = api.user(555001)
            user.send("/start")
            user.wait_for(lambda m: "Начать" in str(m.keyboard), timeout=60)
            admin = api.user(555002)
            admin.send("/my_data")
            admin.wait_for(lambda m: "Ваш числовой Telegram id: 555002" in m.content, timeout=30)
        finally:
            proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out[-3000:]
        assert "Traceback" not in out


def test_the_image_entry_command_starts_the_bot(tmp_path):
    argv, env, user = dockerfile()
    assert argv == ["surveybot", "run"]
    assert user and user not in ("root", "0"), "the image runs as an unprivileged user"
    assert env["DATABASE_URL"].startswith("sqlite+aiosqlite:////data/")
    # /data is the image's volume; here the same relative layout lives in tmp_path.
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'surveybot.db'}"
    env.pop("PATH", None)
    start_and_talk([str(VENV_BIN / argv[0]), *argv[1:]], env, tmp_path)
    assert counts(tmp_path / "surveybot.db")["respondents"] == 1


def test_the_systemd_unit_runs_polling_and_starts_the_bot(tmp_path):
    u = unit()
    exec_start = shlex.split(u["ExecStart"][0])
    assert exec_start[0] == "/opt/surveybot/.venv/bin/surveybot" and exec_start[1:] == ["run"], "polling, no --webhook"
    assert u["KillSignal"] == ["SIGINT"] and u["User"] == ["surveybot"]
    env = dict(item.split("=", 1) for item in u["Environment"])
    assert env["DATABASE_URL"] == "sqlite+aiosqlite:////var/lib/surveybot/surveybot.db"
    assert u["StateDirectory"] == ["surveybot"], "systemd creates /var/lib/surveybot for the database"
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'surveybot.db'}"
    env["MPLCONFIGDIR"] = str(tmp_path / ".matplotlib")
    start_and_talk([str(VENV_BIN / "surveybot"), *exec_start[1:]], env, tmp_path)


def test_compose_file_wires_the_bot_to_postgres():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    bot, db = compose["services"]["bot"], compose["services"]["db"]
    assert bot["build"] == "." and bot["env_file"] == ".env"
    assert bot["depends_on"]["db"]["condition"] == "service_healthy" and "healthcheck" in db
    url = bot["environment"]["DATABASE_URL"].replace("${POSTGRES_PASSWORD}", "pw")
    assert check_url(url).host == "db"
    assert db["image"].startswith("postgres:")
    assert "pgdata" in compose["volumes"]


# ------------------------------------------------------------------ .env.example
def env_example_keys() -> list[str]:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    return re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", text, re.M)


def test_env_example_names_every_setting_and_loads(tmp_path):
    keys = env_example_keys()
    settings = {name.upper() for name in Settings.model_fields}
    missing = settings - set(keys)
    assert not missing, f"add {sorted(missing)} to .env.example"
    assert set(keys) - settings == {"POSTGRES_PASSWORD"}, "every key is a setting (or compose's password)"
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    (tmp_path / ".env").write_text(text.replace("BOT_TOKEN=123456789:PASTE-THE-TOKEN-HERE", f"BOT_TOKEN={E2E_TOKEN}"))
    loaded = Settings(_env_file=tmp_path / ".env")
    assert loaded.token() == E2E_TOKEN and loaded.admin_ids == frozenset()
    # The placeholder itself is refused at once, before any network call.
    assert "BOT_TOKEN=123456789:PASTE-THE-TOKEN-HERE" in text


# ------------------------------------------------------------------ /my_data tells the id
async def test_my_data_tells_a_new_user_their_numeric_id(make_user):
    newcomer: SimUser = make_user(987654321)
    await newcomer.send("/my_data")
    assert newcomer.last().text == "О вас ничего не сохранено.\nВаш числовой Telegram id: <code>987654321</code>"
    await newcomer.begin()
    await newcomer.send("/my_data")
    assert any("Ваш числовой Telegram id: <code>987654321</code>" in m.text for m in newcomer.messages()[-2:])
