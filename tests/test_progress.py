"""Waiting that shows: the long commands draw a progress bar on a terminal and nothing else elsewhere.

``surveybot export`` (and ``backup``, ``migrate-db``) run as real processes: once under a pseudo-terminal (the
``pty`` module), where the bar must advance to the total; once with pipes, and once with ``--quiet`` on a
terminal, where the output must hold no control characters at all. In the chat, a large export shows a note
edited as it goes, replaced by the file.
"""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench import data
from tests.fake_botapi import FakeBotAPI
from tests.harness import E2E_TOKEN, ROOT, BotProcess

RESPONSES = 6_000  # three batches of the export stream (2,000 responses each)
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # anything but \t and \n: \r, ESC sequences, …


@pytest.fixture(scope="module")
def big_db(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("progress") / "survey.db"
    data.generate(db, RESPONSES)
    return db


def _env(db: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "BOT_TOKEN"}
    # Redraw on every tick, so a fast machine shows the steps between batches too (tqdm reads TQDM_* settings).
    return env | {"PYTHONPATH": str(ROOT), "DATABASE_URL": f"sqlite+aiosqlite:///{db}", "TQDM_MININTERVAL": "0",
                  "TQDM_MINITERS": "1"}


def run_in_pty(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """Run ``surveybot ARGS`` with stdin, stdout and stderr on a pseudo-terminal; (exit code, everything shown)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", *args], stdin=follower, stdout=follower,
                            stderr=follower, env=env, cwd=cwd, close_fds=True)
    os.close(follower)
    shown = b""
    try:
        while True:
            ready, _, _ = select.select([leader], [], [], 120)
            if not ready:
                raise AssertionError(f"no output for 120 s; so far: {shown[-2000:]!r}")
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the process closed the terminal
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(leader)
        code = proc.wait(60)
    return code, shown.decode("utf-8", "replace")


def counts_drawn(shown: str, total: str) -> list[str]:
    """The "done/total" figures the bar drew, in order."""
    return re.findall(rf"([\d.]+k?)/{re.escape(total)}", shown)


def test_export_on_a_terminal_shows_the_bar_advancing(big_db: Path, tmp_path: Path):
    code, shown = run_in_pty(["export", "--format", "csv", "-o", str(tmp_path / "out.csv")], _env(big_db), tmp_path)
    assert code == 0, shown[-3000:]
    drawn = counts_drawn(shown, "6.00k")
    assert drawn[0] in ("0", "0.00"), drawn
    assert drawn[-1] == "6.00k", drawn
    assert len(set(drawn)) >= 3, f"the bar never showed a step between start and end: {drawn}"  # 0, 2k or 4k, 6k
    assert "\r" in shown and "export csv" in shown and "100%" in shown
    assert (tmp_path / "out.csv").read_bytes().count(b"\n") == RESPONSES + 1


def test_export_without_a_terminal_writes_no_control_characters(big_db: Path, tmp_path: Path):
    done = subprocess.run([sys.executable, "-m", "bot.cli", "export", "--format", "xlsx", "-o", str(tmp_path / "o.xlsx")],
                          capture_output=True, text=True, env=_env(big_db), cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "wrote" in done.stdout
    assert not CONTROL.search(done.stdout + done.stderr), repr(done.stdout + done.stderr)
    assert "%|" not in done.stderr


def test_quiet_on_a_terminal_draws_no_bar(big_db: Path, tmp_path: Path):
    code, shown = run_in_pty(["export", "--format", "csv", "--quiet", "-o", str(tmp_path / "q.csv")], _env(big_db),
                             tmp_path)
    assert code == 0, shown[-3000:]
    # The terminal turns each \n into \r\n; anything beyond that is a bar.
    assert not CONTROL.search(shown.replace("\r\n", "\n")), repr(shown)
    assert "wrote" in shown


def test_backup_and_migrate_db_show_their_bars_on_a_terminal(big_db: Path, tmp_path: Path):
    env = _env(big_db)
    code, shown = run_in_pty(["backup", str(tmp_path / "copy.db")], env, tmp_path)
    assert code == 0, shown[-3000:]
    assert "backup" in shown and "100%" in shown and "pages" in shown, shown[-2000:]
    assert (tmp_path / "copy.db").stat().st_size > 1_000_000

    target = f"sqlite+aiosqlite:///{tmp_path / 'moved.db'}"
    code, shown = run_in_pty(["migrate-db", "--from", env["DATABASE_URL"], "--to", target], env, tmp_path)
    assert code == 0, shown[-3000:]
    assert "migrate-db" in shown and "100%" in shown and "rows" in shown, shown[-2000:]
    assert f"{RESPONSES} responses" in shown

    piped = subprocess.run([sys.executable, "-m", "bot.cli", "backup", str(tmp_path / "copy2.db")], capture_output=True,
                           text=True, env=env, cwd=tmp_path, timeout=300)
    assert piped.returncode == 0 and not CONTROL.search(piped.stdout + piped.stderr), repr(piped.stderr)


def test_a_large_export_in_the_chat_shows_a_note_edited_before_the_file(big_db: Path, tmp_path: Path):
    """The real bot process over HTTP: /export csv on 6,000 responses, with the note's delay and interval made short
    (EXPORT_NOTE_AFTER_SECONDS, EXPORT_NOTE_EVERY_SECONDS) instead of a large database and long waits."""
    db = tmp_path / "chat.db"
    shutil.copy(big_db, db)
    admin = 4_240_001
    with FakeBotAPI() as api:
        bot = BotProcess(tmp_path, {"BOT_TOKEN": E2E_TOKEN, "TELEGRAM_API_URL": api.url,
                                    "DATABASE_URL": f"sqlite+aiosqlite:///{db}", "ADMIN_IDS": str(admin),
                                    "EXPORT_NOTE_AFTER_SECONDS": "0", "EXPORT_NOTE_EVERY_SECONDS": "0.05"})
        bot.start()
        try:
            api.user(admin).send("/export csv")
            document = api.wait_call("sendDocument", lambda c: c.params.get("chat_id") == admin, timeout=180)
            api.wait_call("deleteMessage", lambda c: c.params.get("chat_id") == admin, timeout=30)
        finally:
            code = bot.stop()
        assert code == 0, bot.output()[-3000:]
    notes = [c for c in api.calls_of("sendMessage") if c.params.get("chat_id") == admin
             and str(c.params.get("text", "")).startswith("Готовлю файл…")]
    assert len(notes) == 1, [c.params for c in api.calls_of("sendMessage")]
    note = next(m for m in api.messages(admin, include_deleted=True) if m.content.startswith("Готовлю файл…"))
    edits = [c for c in api.calls_of("editMessageText") if c.params.get("chat_id") == admin
             and int(c.params.get("message_id", 0)) == note.message_id]
    assert edits, "the note was never edited"
    assert all(c.time < document.time for c in edits), "an edit came after the file"
    assert any(re.fullmatch(r"Готовлю файл… [\d ]+ из 6 000", str(c.params["text"])) for c in edits), \
        [c.params["text"] for c in edits]
    assert any(c.params.get("action") == "upload_document" and c.time <= document.time
               for c in api.calls_of("sendChatAction") if c.params.get("chat_id") == admin)
    deleted = [c for c in api.calls_of("deleteMessage") if int(c.params.get("message_id", 0)) == note.message_id]
    assert deleted and deleted[0].time > document.time, "the note is replaced by the file"
    assert not any(m.content.startswith("Готовлю файл…") for m in api.messages(admin)), "the note is gone"
    assert "Traceback" not in bot.output()


def test_report_on_a_terminal_shows_its_questions_drawn(big_db: Path, tmp_path: Path):
    code, shown = run_in_pty(["report", "-o", str(tmp_path / "study.html")], _env(big_db), tmp_path)
    assert code == 0, shown[-3000:]
    total = len(data.load_survey(None).questions)
    drawn = re.findall(rf"(\d+)/{total} ", shown)
    assert drawn and drawn[-1] == str(total) and len(set(drawn)) >= 2, drawn
    assert "report" in shown and "100%" in shown
    assert (tmp_path / "study.html").stat().st_size > 10_000
