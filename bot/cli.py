"""The ``surveybot`` command: run the bot, check a questionnaire, migrate, stats and exports."""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import logging
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.settings import Settings, SettingsError, load_settings
from storage.preflight import DatabaseProblem, check_url, describe_failure
from survey.loader import SurveyError, load_survey

EXIT_CONFIG = 2
EXIT_CHANGES = 1  # check-survey --against: the file would orphan or misread stored answers


class RedactSecrets(logging.Filter):
    """Replaces secrets (the bot token is inside every Bot API URL) in log records."""

    def __init__(self, secrets: Sequence[str]):
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            if any(s in message for s in self.secrets):
                for s in self.secrets:
                    message = message.replace(s, "[REDACTED]")
                record.msg, record.args = message, None
        return True


def setup_logging(settings: Settings) -> None:
    """Log to stderr at LOG_LEVEL, with httpx kept at WARNING and secrets redacted."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    secrets = [settings.bot_token.get_secret_value()] if settings.bot_token else []
    if settings.webhook_secret:
        secrets.append(settings.webhook_secret.get_secret_value())
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    # httpx logs every request URL, and the URL carries the token.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _fail(message: str) -> int:
    print(f"surveybot: {message}", file=sys.stderr)
    return EXIT_CONFIG


class OutputProblem(Exception):
    """An output file that cannot be written; the message is one line."""


def _run_db(url: str, make_coro):
    """asyncio.run(make_coro()), with a failure to reach or read the database turned into one line."""
    from sqlalchemy.exc import DBAPIError

    try:
        return asyncio.run(make_coro())
    except (OSError, DBAPIError) as exc:
        line = describe_failure(exc, url)
        if line is None:
            raise
        raise DatabaseProblem(line) from None
    except Exception as exc:
        line = describe_failure(exc, url)  # asyncpg's own errors (wrong password, no such database)
        if line is None:
            raise
        raise DatabaseProblem(line) from None


def check_output(path: str | Path) -> Path:
    """The output path, refused (OutputProblem) before any work when it cannot be written."""
    path = Path(path)
    folder = path.resolve().parent
    if path.is_dir():
        raise OutputProblem(f"cannot write {path}: it is a folder; give a file name, e.g. {path / 'export.csv'}")
    if not folder.is_dir():
        raise OutputProblem(f"cannot write {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise OutputProblem(f"cannot write {path}: permission denied")
    return path


def write_output(path: Path, content: bytes) -> None:
    """Write the file, any OS error as one line."""
    try:
        path.write_bytes(content)
    except OSError as exc:
        raise OutputProblem(f"cannot write {path}: {exc.strerror or exc}") from None


def cmd_run(args: argparse.Namespace) -> int:
    """Start the bot (long polling, or a webhook server with --webhook)."""
    from telegram.error import InvalidToken, NetworkError

    from bot.app import ChangesNotAccepted, build_application, run_polling, run_webhook

    settings = load_settings()
    settings.token()
    check_url(settings.database_url)
    if args.accept_changes:
        settings = settings.model_copy(update={"accept_changes": True})
    setup_logging(settings)
    app = build_application(settings, monitor=True)
    try:
        if args.webhook:
            run_webhook(app, settings)
        else:
            run_polling(app)
    except ChangesNotAccepted as exc:
        print(f"surveybot: the questionnaire {settings.survey_file or '(bundled)'} differs from the one the stored "
              f"answers were given to:\n{exc}\n"
              "Nothing was changed. Run `surveybot check-survey FILE --against` for the details, then start with "
              "`surveybot run --accept-changes` to run on it anyway (no stored answer is rewritten or lost).",
              file=sys.stderr)
        return EXIT_CONFIG
    except (InvalidToken, NetworkError) as exc:
        # Start-up failures an operator fixes in the configuration: one line, no traceback.
        if isinstance(exc, InvalidToken):
            return _fail("Telegram rejected BOT_TOKEN: check the token @BotFather gave (it may have been revoked)")
        return _fail(f"cannot reach the Telegram Bot API at {settings.telegram_api_url}: {exc.message}")
    except Exception as exc:
        line = describe_failure(exc, settings.database_url)
        if line is None:
            raise
        return _fail(line)
    return 0


def cmd_check_survey(args: argparse.Namespace) -> int:
    """Validate a questionnaire file and list every problem; with --against, what it would do to stored answers."""
    survey = load_survey(args.file)
    print(f"OK: {survey.survey.title} — {len(survey.questions)} questions (id {survey.id}, version {survey.version})")
    baselines = [q.baseline for q in survey.questions if q.baseline is not None]
    for wave in dict.fromkeys(b.wave for b in baselines):
        figures = [f for b in baselines if b.wave == wave for f in (*b.options.values(), *b.groups.values())]
        kinds = ", ".join(f"{sum(f.provenance == p for f in figures)} {p}" for p in ("published", "inferred", "assumed"))
        print(f"baseline {wave}: {sum(b.wave == wave for b in baselines)} questions, {len(figures)} figures ({kinds})")
    if not args.against:
        return 0
    settings = load_settings()
    changes = asyncio.run(_with_engine(settings, lambda engine: _changes(engine, survey)))
    print(f"Against the stored answers in {_shown_url(settings.database_url)}:")
    print(changes.text)
    if changes.blocking:
        print("The bot will start on this file only with `surveybot run --accept-changes`.")
        return EXIT_CHANGES
    print("Safe: the bot starts on this file as it is.")
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    """Print a questionnaire as a respondent would see it (texts, buttons, skip logic)."""
    from bot.preview import preview_lines

    survey = load_survey(args.file)
    print("\n".join(preview_lines(survey)))
    return 0


def cmd_survey_schema(args: argparse.Namespace) -> int:
    """Print the questionnaire file's JSON Schema."""
    from survey.schema import survey_json_schema

    text = json.dumps(survey_json_schema(), ensure_ascii=False, indent=2) + "\n"
    if args.output:
        write_output(check_output(args.output), text.encode("utf-8"))
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return 0


class _Changes:
    """The findings of a questionnaire comparison, as the CLI shows them."""

    def __init__(self, changes: list) -> None:
        from survey.changes import blocking, report

        self.blocking = blocking(changes)
        self.text = report(changes)


async def _changes(engine, survey) -> _Changes:
    from storage.definitions import check_changes

    return _Changes(await check_changes(engine, survey))


def _shown_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def cmd_migrate(args: argparse.Namespace) -> int:
    """Create or upgrade the database schema."""
    from storage.db import create_engine
    from storage.migrate import upgrade

    settings = load_settings()
    check_url(settings.database_url)

    async def go() -> None:
        engine = create_engine(settings.database_url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    _run_db(settings.database_url, go)
    print("database schema is up to date")
    return 0


def _html_to_text(message: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", message))


async def _with_engine(settings: Settings, work):
    from storage.db import create_engine
    from storage.migrate import upgrade

    engine = create_engine(settings.database_url)
    try:
        await upgrade(engine)
        return await work(engine)
    finally:
        await engine.dispose()


def _filter(args: argparse.Namespace, survey):
    from analytics.filters import parse_filter

    return parse_filter(args.where, survey) if args.where else None


def cmd_stats(args: argparse.Namespace) -> int:
    """Print the summary (text or the stable JSON form) without Telegram."""
    from analytics.compare import add_to_json, baseline_waves, compare, render_comparison
    from analytics.filters import FilterError
    from analytics.render import render_summary
    from analytics.summary import build_summary, summary_to_json

    settings = load_settings()
    check_url(settings.database_url, must_exist=True)  # reading must never create an empty database
    survey = load_survey(settings.survey_file)
    try:
        where = _filter(args, survey)
    except FilterError as exc:
        return _fail(f"--where: {exc}")
    if args.compare and not baseline_waves(survey):
        return _fail("--compare: the questionnaire has no baseline figures")
    if args.by:
        from analytics.crosstab import CrosstabError, resolve_banner

        try:
            resolve_banner(survey, args.by)
        except CrosstabError as exc:
            return _fail(f"--by: {exc}")

    async def work(engine):
        summary = await build_summary(engine, survey, completed_only=args.completed, where=where)
        tables = []
        if args.by:
            from analytics.crosstab import build_crosstabs

            tables = await build_crosstabs(engine, survey, args.by, where=where, completed_only=args.completed)
        return summary, tables

    summary, tables = _run_db(settings.database_url, lambda: _with_engine(settings, work))
    if where is not None and summary.started == 0:
        print(f"surveybot: no respondents match the filter: {where.describe()}", file=sys.stderr)
        if args.format != "json":
            return 1
    comparison = compare(summary, survey, None, summary.filter) if args.compare else None
    if args.format == "json":
        data = summary_to_json(summary)
        if comparison is not None:
            add_to_json(data, comparison)
        if tables:
            from analytics import crosstab

            crosstab.add_to_json(data, tables)
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        messages = render_summary(summary)
        if comparison is not None:
            messages += render_comparison(comparison)
        if tables:
            from analytics.crosstab_render import render_table

            messages += [render_table(t, summary.filter) for t in tables]
        print("\n\n".join(_html_to_text(m) for m in messages))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write a CSV, XLSX or SPSS export of the responses to a file, with its codebook."""
    from analytics.filters import FilterError
    from analytics.jobs import export_files

    delimiter = ";" if args.excel_ru else args.delimiter
    if args.format != "csv" and (args.excel_ru or args.delimiter != ","):
        return _fail("--delimiter and --excel-ru are for --format csv")
    if len(delimiter) != 1:
        return _fail(f"--delimiter must be one character, got {delimiter!r}")
    settings = load_settings()
    check_url(settings.database_url, must_exist=True)  # reading must never create an empty database
    output = check_output(args.output)
    survey = load_survey(settings.survey_file)
    try:
        where = _filter(args, survey)
    except FilterError as exc:
        return _fail(f"--where: {exc}")

    stem = output.name[: -len(output.suffix)] if output.suffix else output.name

    async def work(_engine) -> list[tuple[str, bytes]]:
        return await export_files(settings.database_url, survey, args.format, stem, completed_only=args.completed,
                                  where=where, banner=args.by if args.format == "xlsx" else None, delimiter=delimiter,
                                  tz_name=settings.timezone)

    files = _run_db(settings.database_url, lambda: _with_engine(settings, work))
    (_, content), *extra = files
    write_output(output, content)
    print(f"wrote {args.output} ({len(content):,} bytes)")
    for name, data in extra:  # the codebook beside it
        path = check_output(output.with_name(name))
        write_output(path, data)
        print(f"wrote {path}")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    """Copy the SQLite database into a new file, safely while the bot runs."""
    from storage.backup import backup_database

    settings = load_settings()
    result = backup_database(settings.database_url, args.file)
    print(f"wrote {result.path} ({result.size:,} bytes: {result.responses} responses, {result.answers} answers)")
    return 0


def cmd_migrate_db(args: argparse.Namespace) -> int:
    """Copy all respondents, responses and answers into another (new, empty) database."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, DBAPIError

    from storage.transfer import TransferError, copy_database

    check_url(args.source, name="--from")
    check_url(args.target, name="--to")
    try:
        counts = asyncio.run(copy_database(args.source, args.target, batch=args.batch))
    except TransferError as exc:
        return _fail(str(exc))
    except ArgumentError as exc:
        return _fail(f"not a database URL: {exc}")
    except (OSError, DBAPIError) as exc:
        # The first line only: the rest repeats the SQL and its parameters.
        return _fail(f"database error: {str(exc).splitlines()[0]}")
    shown = make_url(args.target).render_as_string(hide_password=True)
    print(f"copied to {shown}: " + ", ".join(f"{n} {table}" for table, n in counts.items()))
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    """Read the running bot's health file: exit 0 when the database and the Bot API answered recently."""
    from bot.health import problems

    settings = load_settings()
    path = Path(args.file) if args.file else settings.health_file
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"UNKNOWN: no readable health file at {path} ({exc.__class__.__name__}): is `surveybot run` "
              "running in this directory (or HEALTH_FILE pointing here)?")
        return 1
    found = problems(report)
    if args.format == "json":
        print(json.dumps({"ok": not found, "problems": found, **report}, ensure_ascii=False, indent=2))
        return 1 if found else 0
    print("OK" if not found else "PROBLEM: " + "; ".join(found))
    for part in ("database", "telegram"):
        state = report.get(part) or {}
        last = state.get("last_ok_seconds_ago")
        line = f"  {part}: last answered " + (f"{last:.0f} s before the report" if last is not None else "never")
        if state.get("last_failure"):
            line += f"; last failure {state['last_failure_seconds_ago']:.0f} s before it ({state['last_failure']})"
        print(line)
    return 1 if found else 0


# What each subcommand's --help says above and below its options: a description and examples.
COMMAND_HELP: dict[str, tuple[str, str]] = {
    "run": (
        "Start the bot: long polling by default, or a webhook server behind a TLS proxy with --webhook.\n"
        "Reads BOT_TOKEN, ADMIN_IDS, DATABASE_URL, SURVEY_FILE, … from the environment or ./.env;\n"
        "the database schema is created or upgraded on start.",
        "  BOT_TOKEN=123456789:AA... surveybot run\n"
        "  surveybot run --webhook          # needs WEBHOOK_URL and WEBHOOK_SECRET",
    ),
    "check-survey": (
        "Validate a questionnaire YAML file and list every problem in it at once, each as FILE:LINE: text\n"
        "(positions counted from 1, 'did you mean' for misspelt keys and values), or print OK.",
        "  surveybot check-survey my_survey.yaml",
    ),
    "preview": (
        "Print a questionnaire as a respondent sees it, question by question, without starting the bot.",
        "  surveybot preview my_survey.yaml",
    ),
    "survey-schema": (
        "Print the JSON Schema of a questionnaire file (generated from the same model the bot validates\n"
        "with), so an editor can complete keys and flag mistakes while you type. Point the editor at it\n"
        "with a first line '# yaml-language-server: $schema=survey.schema.json' in the YAML file.",
        "  surveybot survey-schema > survey.schema.json\n"
        "  surveybot survey-schema -o survey.schema.json",
    ),
    "migrate": (
        "Create the database (DATABASE_URL) or upgrade its schema to this version. The bot does this on\n"
        "start too; run it by hand before starting several webhook workers.",
        "  surveybot migrate\n"
        "  DATABASE_URL=postgresql+asyncpg://bot:secret@127.0.0.1/survey surveybot migrate",
    ),
    "stats": (
        "Print the summary of the answers in DATABASE_URL, as /stats shows it in Telegram (plain text),\n"
        "or in the stable JSON form. Refuses a database that does not exist instead of creating one.",
        "  surveybot stats\n"
        "  surveybot stats --completed --format json > summary.json",
    ),
    "export": (
        "Write the responses in DATABASE_URL to a file, one row per response (partial ones marked\n"
        "in the status column), with a codebook: a sheet in XLSX, FILE.codebook.csv beside CSV and SAV.\n"
        "Times are ISO 8601 in TIMEZONE (default Europe/Moscow). Refuses a database that does not exist.",
        "  surveybot export --format xlsx -o answers.xlsx\n"
        "  surveybot export --format sav -o answers.sav          # SPSS, R (haven), Stata, pandas\n"
        "  surveybot export --format csv --excel-ru --completed -o done.csv",
    ),
    "backup": (
        "Copy the SQLite database (DATABASE_URL) into a new file with SQLite's online backup API: one\n"
        "consistent snapshot, safe while the bot is running and writing (copying the file itself is not,\n"
        "in WAL mode). The copy is checked and is a single self-contained file. For PostgreSQL use pg_dump.",
        "  surveybot backup backups/surveybot-$(date +%F).db\n"
        "  sqlite3 backups/surveybot-2026-12-01.db 'SELECT COUNT(*) FROM responses'",
    ),
    "health": (
        "Say whether the running bot is healthy: reads the health report `surveybot run` writes every\n"
        "HEALTH_INTERVAL_SECONDS to HEALTH_FILE; exit 0 when the database and the Bot API answered recently\n"
        "and no incident is open, 1 otherwise (also when the report is missing or older than 120 s).",
        "  surveybot health                 # in the bot's working directory\n"
        "  HEALTH_FILE=/var/lib/surveybot/surveybot-health.json surveybot health --format json",
    ),
    "migrate-db": (
        "Copy respondents, responses and answers into another, new and empty database (ids kept),\n"
        "e.g. from SQLite to PostgreSQL. The target is migrated first; the copy is one transaction.",
        "  surveybot migrate-db --from sqlite+aiosqlite:///surveybot.db \\\n"
        "                       --to postgresql+asyncpg://bot:secret@127.0.0.1/survey",
    ),
}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("surveybot")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _describe_commands(sub: argparse._SubParsersAction) -> None:
    """Give every subcommand its description and examples (commands without an entry keep their help line)."""
    helps = {a.dest: a.help for a in sub._choices_actions}
    for name, command in sub.choices.items():
        description, examples = COMMAND_HELP.get(name, (helps.get(name) or "", ""))
        command.description = description
        command.epilog = f"examples:\n{examples}" if examples else None
        command.formatter_class = argparse.RawDescriptionHelpFormatter


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with all subcommands."""
    parser = argparse.ArgumentParser(
        prog="surveybot",
        description="Telegram survey bot: runs a questionnaire in Telegram, keeps every answer in SQL,\n"
        "gives researchers the summary, charts and exports.",
        epilog="examples:\n  surveybot run\n  surveybot stats --completed\n  surveybot export --format xlsx -o answers.xlsx\n"
        "\n'surveybot COMMAND --help' describes a command. Settings come from the environment or ./.env.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"surveybot {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start the bot")
    run.add_argument("--webhook", action="store_true", help="serve a webhook instead of long polling")
    run.add_argument("--accept-changes", action="store_true",
                     help="start even if the questionnaire orphans or misreads stored answers (nothing is rewritten)")
    run.set_defaults(func=cmd_run)
    check = sub.add_parser("check-survey", help="validate a questionnaire file")
    check.add_argument("file")
    check.add_argument("--against", action="store_true",
                       help="compare with the answers stored in DATABASE_URL and say what the change would do")
    check.set_defaults(func=cmd_check_survey)
    preview = sub.add_parser("preview", help="print a questionnaire as a respondent sees it")
    preview.add_argument("file")
    preview.set_defaults(func=cmd_preview)
    schema = sub.add_parser("survey-schema", help="print the questionnaire file's JSON Schema (for editors)")
    schema.add_argument("-o", "--output", help="write it to this file instead of stdout")
    schema.set_defaults(func=cmd_survey_schema)
    migrate = sub.add_parser("migrate", help="create or upgrade the database schema")
    migrate.set_defaults(func=cmd_migrate)
    stats = sub.add_parser("stats", help="print the summary of the answers")
    stats.add_argument("--completed", action="store_true", help="completed responses only")
    stats.add_argument("--format", choices=("text", "json"), default="text", help="plain text (default) or JSON")
    stats.add_argument("--where", metavar="EXPR", help="respondent filter, e.g. '11=2 12=1-50 source=channel_post'")
    stats.add_argument("--compare", action="store_true", help="compare with the questionnaire's baseline wave")
    stats.add_argument("--by", metavar="Q", help="cross every question by question Q (number or id) or 'source'")
    stats.set_defaults(func=cmd_stats)
    export = sub.add_parser("export", help="export the responses to a file")
    export.add_argument("--format", choices=("csv", "xlsx", "sav"), required=True,
                        help="csv, xlsx, or sav (SPSS, with variable and value labels; R and Stata read it too)")
    export.add_argument("--delimiter", default=",", help="CSV field separator (default ',')")
    export.add_argument("--excel-ru", action="store_true",
                        help="CSV for Excel in a Russian locale: ';' as the separator (UTF-8 with BOM as always)")
    export.add_argument("-o", "--output", required=True, help="file to write")
    export.add_argument("--completed", action="store_true", help="completed responses only")
    export.add_argument("--where", metavar="EXPR", help="respondent filter, e.g. '11=2 12=1-50'")
    export.add_argument("--by", metavar="Q", help="XLSX: add a sheet with every question crossed by question Q")
    export.set_defaults(func=cmd_export)
    health = sub.add_parser("health", help="is the running bot healthy? (exit 0 yes, 1 no)")
    health.add_argument("--file", help="the health file (default HEALTH_FILE, surveybot-health.json)")
    health.add_argument("--format", choices=("text", "json"), default="text")
    health.set_defaults(func=cmd_health)
    backup = sub.add_parser("backup", help="copy the SQLite database into a new file, safe while the bot runs")
    backup.add_argument("file", help="the new backup file (must not exist yet)")
    backup.set_defaults(func=cmd_backup)
    copy = sub.add_parser("migrate-db", help="copy all survey data into another, empty database")
    copy.add_argument("--from", dest="source", required=True, metavar="URL", help="e.g. sqlite+aiosqlite:///surveybot.db")
    copy.add_argument("--to", dest="target", required=True, metavar="URL", help="e.g. postgresql+asyncpg://user@host/db")
    copy.add_argument("--batch", type=int, default=5000, help="rows per insert (default 5000)")
    copy.set_defaults(func=cmd_migrate_db)
    _describe_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``surveybot`` console script."""
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's shutdown
        return code
    except BrokenPipeError:
        # `surveybot stats | head`: the reader has what it wanted; end quietly like other Unix tools.
        _silence_stdout()
        return 141
    except SettingsError as exc:
        return _fail(str(exc))
    except (DatabaseProblem, OutputProblem) as exc:
        return _fail(str(exc))
    except SurveyError as exc:
        count = len(exc.findings)
        print(f"surveybot: invalid questionnaire {exc.source}: {count} problem{'s' if count != 1 else ''}", file=sys.stderr)
        for line in exc.lines():
            print(line, file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not complain about the pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
