"""Operator mistakes on the command line end in one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from bot.cli import COMMANDS, main
from tests.fake_botapi import FakeBotAPI
from tests.harness import E2E_TOKEN, ROOT

UNREACHABLE_PG = "postgresql+asyncpg://surveybot:hunter2secret@127.0.0.1:1/survey"


@pytest.fixture
def shell(monkeypatch, tmp_path):
    """Run ``surveybot ARGS`` in-process from an empty folder with DATABASE_URL set; returns the exit code."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    monkeypatch.delenv("SURVEY_FILE", raising=False)

    def run(*argv: str, db: str | None = "sqlite+aiosqlite:///surveybot.db") -> int:
        if db is None:
            monkeypatch.delenv("DATABASE_URL", raising=False)
        else:
            monkeypatch.setenv("DATABASE_URL", db)
        return main(list(argv))  # the caller reads stdout and stderr with capsys

    return run


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("surveybot: ")
    return lines[0]


def test_every_command_has_a_description_and_examples(capsys):
    for name in COMMANDS:
        with pytest.raises(SystemExit) as stop:
            main([name, "--help"])
        assert stop.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith(f"usage: surveybot {name}")
        assert "examples:\n" in out and f"surveybot {name}" in out.split("examples:")[1], out
        description = COMMANDS[name].description.splitlines()[0]
        assert description in out
    with pytest.raises(SystemExit):
        main(["--help"])
    top = capsys.readouterr().out
    assert "examples:" in top and "surveybot COMMAND --help" in top


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"surveybot {version('surveybot')}"


@pytest.mark.parametrize("argv", [["stats"], ["stats", "--format", "json"], ["export", "--format", "csv", "-o", "x.csv"]])
def test_read_only_commands_refuse_a_missing_database(shell, capsys, tmp_path, argv):
    code = shell(*argv)
    line = one_line(capsys.readouterr().err)
    assert code == 2
    assert f"no database at {tmp_path / 'surveybot.db'}" in line
    assert "relative path counts from the current folder" in line
    assert not (tmp_path / "surveybot.db").exists(), "nothing was created"
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///surveybot.db", "DATABASE_URL: 'sqlite' is not an async driver; write the scheme as 'sqlite+aiosqlite://…'"),
        ("postgresql://bot:pw@127.0.0.1/db", "'postgresql' is not an async driver; write the scheme as 'postgresql+asyncpg://…'"),
        ("mysql://bot@127.0.0.1/db", "DATABASE_URL: the scheme 'mysql' is not supported; use sqlite+aiosqlite:///surveybot.db"),
        ("surveybot.db", "DATABASE_URL is not a database URL (expected e.g. sqlite+aiosqlite:///surveybot.db"),
    ],
)
@pytest.mark.parametrize("command", ["stats", "migrate"])
def test_bad_url_scheme_or_sync_driver(shell, capsys, tmp_path, url, expected, command):
    code = shell(command, db=url)
    line = one_line(capsys.readouterr().err)
    assert code == 2 and expected in line
    assert ":pw@" not in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv", [["stats"], ["migrate"], ["export", "--format", "xlsx", "-o", "out.xlsx"]])
def test_unreachable_server(shell, capsys, tmp_path, argv):
    code = shell(*argv, db=UNREACHABLE_PG)
    line = one_line(capsys.readouterr().err)
    assert code == 2
    assert "cannot connect to the database (postgresql+asyncpg://surveybot:***@127.0.0.1:1/survey): connection refused" in line
    assert "hunter2secret" not in line
    assert not (tmp_path / "out.xlsx").exists()


def test_a_file_that_is_not_a_database(shell, capsys, tmp_path):
    (tmp_path / "surveybot.db").write_text("not sqlite at all\n")
    code = shell("stats")
    assert code == 2
    assert one_line(capsys.readouterr().err) == (
        f"surveybot: DATABASE_URL: {tmp_path / 'surveybot.db'} is not a SQLite database (its first bytes are not "
        "SQLite's); the file was left as it is; point DATABASE_URL at the survey's database or restore it from a backup"
    )
    assert (tmp_path / "surveybot.db").read_text() == "not sqlite at all\n"


def test_unwritable_output_path(shell, capsys, tmp_path):
    assert shell("migrate") == 0
    capsys.readouterr()
    (tmp_path / "folder").mkdir()
    cases = {
        str(tmp_path / "missing" / "out.csv"): f"cannot write {tmp_path / 'missing' / 'out.csv'}: the folder {tmp_path / 'missing'} does not exist",
        str(tmp_path / "folder"): f"cannot write {tmp_path / 'folder'}: it is a folder; give a file name",
        "/proc/surveybot-export.csv": "cannot write /proc/surveybot-export.csv:",
    }
    for output, expected in cases.items():
        code = shell("export", "--format", "csv", "-o", output)
        line = one_line(capsys.readouterr().err)
        assert code == 2 and expected in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "surveybot.db"]
    assert list((tmp_path / "folder").iterdir()) == []


def _cli(args: list[str], env: dict[str, str], cwd: Path, **kw) -> subprocess.Popen:
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), **env}
    return subprocess.Popen([sys.executable, "-m", "bot.cli", *args], env=full, cwd=cwd, **kw)


def test_broken_pipe_is_quiet(tmp_path):
    db = f"sqlite+aiosqlite:///{tmp_path / 'survey.db'}"
    assert _cli(["migrate"], {"DATABASE_URL": db}, tmp_path, stdout=subprocess.DEVNULL).wait(60) == 0
    # `surveybot stats | head -0`: the reader is gone before the first line is written.
    proc = _cli(["stats"], {"DATABASE_URL": db}, tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(60) == 141
    assert err == "", err


def test_run_with_the_database_server_down_says_so_in_one_line(tmp_path):
    with FakeBotAPI() as api:
        env = {"BOT_TOKEN": E2E_TOKEN, "TELEGRAM_API_URL": api.url, "DATABASE_URL": UNREACHABLE_PG}
        proc = _cli(["run"], env, tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    line = one_line(err)
    assert "cannot connect to the database" in line and "hunter2secret" not in line
