"""Commands for questionnaire authors: ``check-survey``, ``preview``, ``convert`` and ``survey-schema``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from bot.cli.common import (
    EXIT_CHANGES,
    Command,
    OutputProblem,
    check_output,
    fail,
    shown_url,
    with_engine,
    write_output,
)
from bot.settings import load_settings
from survey.changes import blocking, report
from survey.loader import check_survey_file, load_survey
from survey.schema import survey_json_schema


def cmd_check_survey(args: argparse.Namespace) -> int:
    """Validate a questionnaire file and list every problem; with --against, what it would do to stored answers."""
    survey, warnings = check_survey_file(args.file, strict=args.strict)
    print(f"OK: {survey.survey.title} — {len(survey.questions)} questions (id {survey.id}, version {survey.version})")
    if len(survey.languages) > 1:
        print(f"languages: {', '.join(survey.languages)} (default {survey.default_language})")
    for line in warnings:
        print(line)
    baselines = [q.baseline for q in survey.questions if q.baseline is not None]
    for wave in dict.fromkeys(b.wave for b in baselines):
        figures = [f for b in baselines if b.wave == wave for f in (*b.options.values(), *b.groups.values())]
        kinds = ", ".join(f"{sum(f.provenance == p for f in figures)} {p}" for p in ("published", "inferred", "assumed"))
        print(f"baseline {wave}: {sum(b.wave == wave for b in baselines)} questions, {len(figures)} figures ({kinds})")
    if not args.against:
        return 0
    settings = load_settings()

    async def changes_of(engine):
        from storage.definitions import check_changes  # the database's side: only with --against

        return await check_changes(engine, survey)

    changes = asyncio.run(with_engine(settings.database_url, changes_of))
    print(f"Against the stored answers in {shown_url(settings.database_url)}:")
    print(report(changes))
    if blocking(changes):
        print("The bot will start on this file only with `surveybot run --accept-changes`.")
        return EXIT_CHANGES
    print("Safe: the bot starts on this file as it is.")
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    """Print a questionnaire as a respondent would see it (texts, buttons, skip logic)."""
    from bot.respondent.preview import preview_lines  # the bot's own screens (they import telegram's keyboards)

    survey = load_survey(args.file)
    print("\n".join(preview_lines(survey)))
    return 0


YAML_SUFFIXES = (".yaml", ".yml")


def cmd_convert(args: argparse.Namespace) -> int:
    """Convert a questionnaire between YAML and XLSForm (the output's suffix says which)."""
    from survey.convert import to_yaml, write_xlsform
    from survey.xlsform import is_xlsform

    out = Path(args.output)
    if out.suffix.lower() not in (*YAML_SUFFIXES, ".xlsx"):
        return fail(f"cannot write {out}: give a file ending in .yaml, .yml (a YAML questionnaire) or .xlsx (an XLSForm)")
    if out.resolve() == Path(args.file).resolve():
        return fail(f"cannot write {out}: it is the file being converted")
    check_output(out)
    survey = load_survey(args.file)
    if out.suffix.lower() == ".xlsx":
        temporary = out.with_name(out.name + ".part")
        try:
            write_xlsform(survey, temporary)
            temporary.replace(out)
        except Exception as exc:  # OSError, or XlsxWriter's own FileCreateError
            raise OutputProblem(f"cannot write {out}: {exc}") from None
        finally:
            temporary.unlink(missing_ok=True)
    else:
        write_output(out, to_yaml(survey).encode("utf-8"))
    kind = "an XLSForm" if is_xlsform(out) else "a YAML questionnaire"
    languages = f" in {', '.join(survey.languages)}" if len(survey.languages) > 1 else ""
    print(f"wrote {out}: {kind}, {len(survey.questions)} questions{languages}")
    return 0


def cmd_survey_schema(args: argparse.Namespace) -> int:
    """Print the questionnaire file's JSON Schema."""
    text = json.dumps(survey_json_schema(), ensure_ascii=False, indent=2) + "\n"
    if args.output:
        write_output(check_output(args.output), text.encode("utf-8"))
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def _check_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file")
    parser.add_argument("--strict", action="store_true",
                        help="treat warnings (a text without a translation) as problems: exit 2")
    parser.add_argument("--against", action="store_true",
                        help="compare with the answers stored in DATABASE_URL and say what the change would do")


def _file_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file")


def _convert_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="a questionnaire: YAML, or an XLSForm (.xlsx, .xls, .csv)")
    parser.add_argument("-o", "--output", required=True, help="the file to write: .yaml/.yml or .xlsx")


def _schema_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", help="write it to this file instead of stdout")


COMMANDS = [
    Command(
        "check-survey", "validate a questionnaire file",
        "Validate a questionnaire file (YAML, or an XLSForm: .xlsx, .xls, .csv) and list every problem in it at\n"
        "once, each as FILE:LINE: text (FILE:SHEET:ROW: text for an XLSForm)\n"
        "(positions counted from 1, 'did you mean' for misspelt keys and values), or print OK.\n"
        "Warnings (a text missing in one of the questionnaire's languages) follow OK; --strict makes them problems.",
        "  surveybot check-survey my_survey.yaml\n"
        "  surveybot check-survey my_survey.yaml --strict    # missing translations are problems too\n"
        "  surveybot check-survey my_survey.yaml --against   # what it would do to the stored answers",
        _check_arguments, cmd_check_survey,
    ),
    Command(
        "preview", "print a questionnaire as a respondent sees it",
        "Print a questionnaire as a respondent sees it, question by question, without starting the bot.",
        "  surveybot preview my_survey.yaml",
        _file_argument, cmd_preview,
    ),
    Command(
        "convert", "convert a questionnaire between YAML and XLSForm",
        "Convert a questionnaire between our YAML and XLSForm (the spreadsheet form of ODK, KoboToolbox,\n"
        "SurveyCTO and Ona), in either direction; the output's suffix says which. Every language goes with it.\n"
        "The file is checked first, as by check-survey. What XLSForm has no column for (scale labels, research\n"
        "metadata such as baselines) goes to an extra sheet named 'surveybot' that form apps ignore.",
        "  surveybot convert my_survey.yaml -o my_survey.xlsx\n"
        "  surveybot convert form.xlsx -o my_survey.yaml",
        _convert_arguments, cmd_convert,
    ),
    Command(
        "survey-schema", "print the questionnaire file's JSON Schema (for editors)",
        "Print the JSON Schema of a questionnaire file (generated from the same model the bot validates\n"
        "with), so an editor can complete keys and flag mistakes while you type. Point the editor at it\n"
        "with a first line '# yaml-language-server: $schema=survey.schema.json' in the YAML file.",
        "  surveybot survey-schema > survey.schema.json\n"
        "  surveybot survey-schema -o survey.schema.json",
        _schema_arguments, cmd_survey_schema,
    ),
]
