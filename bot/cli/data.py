"""Commands for researchers at a terminal: ``stats``, ``export`` and ``report``, read from the database without Telegram.

Both only read: they refuse a database that does not exist instead of creating an empty one. The analytics
modules (pandas, scipy, XlsxWriter) load when a command runs, not when the parser is built.
"""

from __future__ import annotations

import argparse
import json
import sys

from bot.cli.common import Command, check_output, fail, html_to_text, run_db, with_engine, write_output
from bot.cli.progress import add_quiet, progress_bar
from bot.settings import load_settings
from storage.preflight import check_url
from survey.loader import load_survey


def cmd_stats(args: argparse.Namespace) -> int:
    """Print the summary (text or the stable JSON form) without Telegram."""
    from analytics import crosstab
    from analytics.compare import add_to_json, baseline_waves, compare, render_comparison
    from analytics.crosstab_render import render_table
    from analytics.filters import FilterError, parse_filter
    from analytics.quality import QualityRules
    from analytics.summary import build_summary, summary_to_json
    from analytics.summary_text import render_summary
    from survey.i18n import translator

    settings = load_settings()
    check_url(settings.database_url, must_exist=True)  # reading must never create an empty database
    survey = load_survey(settings.survey_file)
    rules = QualityRules(speeder_ratio=settings.quality_speeder_ratio)
    try:
        where = parse_filter(args.where, survey, rules) if args.where else None
    except FilterError as exc:
        return fail(f"--where: {exc}")
    if args.quality:
        if args.compare or args.by:
            return fail("--quality is a report of its own: without --compare and --by")
        return _quality(settings, survey, rules, where, args.format)
    if args.compare and not baseline_waves(survey):
        return fail("--compare: the questionnaire has no baseline figures")
    if args.by:
        try:
            crosstab.resolve_banner(survey, args.by)
        except crosstab.CrosstabError as exc:
            return fail(f"--by: {exc}")

    async def work(engine):
        summary = await build_summary(engine, survey, completed_only=args.completed, where=where)
        tables = []
        if args.by:
            tables = await crosstab.build_crosstabs(engine, survey, args.by, where=where, completed_only=args.completed)
        return summary, tables

    summary, tables = run_db(settings.database_url, lambda: with_engine(settings.database_url, work))
    if where is not None and summary.started == 0:
        print(f"surveybot: no respondents match the filter: {where.describe(translator(summary.language))}",
              file=sys.stderr)
        if args.format != "json":
            return 1
    comparison = compare(summary, survey, None, summary.filter) if args.compare else None
    if args.format == "json":
        data = summary_to_json(summary)
        if comparison is not None:
            add_to_json(data, comparison)
        if tables:
            crosstab.add_to_json(data, tables)
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        messages = render_summary(summary)
        if comparison is not None:
            messages += render_comparison(comparison)
        messages += [render_table(t, summary.filter) for t in tables]
        print("\n\n".join(html_to_text(m) for m in messages))
    return 0


def _quality(settings, survey, rules, where, fmt: str) -> int:
    """``stats --quality``: the data-quality flags, as text or JSON."""
    from analytics.quality_text import build_quality, quality_to_json, render_quality

    view = run_db(settings.database_url, lambda: with_engine(
        settings.database_url, lambda engine: build_quality(engine, survey, rules, where)))
    if fmt == "json":
        print(json.dumps(quality_to_json(view), ensure_ascii=False, indent=2))
    else:
        print("\n\n".join(html_to_text(m) for m in render_quality(view)))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write a CSV, XLSX or SPSS export of the responses to a file, with its codebook."""
    from analytics.filters import FilterError, parse_filter
    from analytics.jobs import export_files

    delimiter = ";" if args.excel_ru else args.delimiter
    if args.format != "csv" and (args.excel_ru or args.delimiter != ","):
        return fail("--delimiter and --excel-ru are for --format csv")
    if len(delimiter) != 1:
        return fail(f"--delimiter must be one character, got {delimiter!r}")
    settings = load_settings()
    check_url(settings.database_url, must_exist=True)  # reading must never create an empty database
    output = check_output(args.output)
    survey = load_survey(settings.survey_file)
    from analytics.quality import QualityRules

    rules = QualityRules(speeder_ratio=settings.quality_speeder_ratio)
    try:
        where = parse_filter(args.where, survey, rules) if args.where else None
    except FilterError as exc:
        return fail(f"--where: {exc}")

    stem = output.name[: -len(output.suffix)] if output.suffix else output.name

    with progress_bar(f"export {args.format}", "rows", args.quiet) as tick:

        async def work(_engine) -> list[tuple[str, bytes]]:
            return await export_files(settings.database_url, survey, args.format, stem, completed_only=args.completed,
                                      where=where, banner=args.by if args.format == "xlsx" else None,
                                      delimiter=delimiter, tz_name=settings.timezone, progress=tick,
                                      quality_rules=rules)

        files = run_db(settings.database_url, lambda: with_engine(settings.database_url, work))
    (_, content), *extra = files
    write_output(output, content)
    print(f"wrote {args.output} ({len(content):,} bytes)")
    for name, data in extra:  # the codebook beside it
        path = check_output(output.with_name(name))
        write_output(path, data)
        print(f"wrote {path}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Write the study as one self-contained HTML file (and a PDF beside it with --pdf)."""
    from analytics import crosstab
    from analytics.filters import FilterError, parse_filter
    from analytics.report import ReportError, ReportLanguageError, check_language, find_chromium, print_pdf, report_html

    settings = load_settings()
    check_url(settings.database_url, must_exist=True)  # reading must never create an empty database
    output = check_output(args.output)
    pdf = check_output(output.with_suffix(".pdf")) if args.pdf else None
    if pdf is not None and find_chromium() is None:
        return fail("--pdf needs Chromium (Debian: apt install chromium); without it, open the HTML in a browser "
                    "and use Print → Save as PDF")
    survey = load_survey(settings.survey_file)
    try:
        language = check_language(survey, args.lang) if args.lang else None
    except ReportLanguageError as exc:
        return fail(f"--lang: {exc}")
    try:
        where = parse_filter(args.where, survey) if args.where else None
    except FilterError as exc:
        return fail(f"--where: {exc}")
    if args.by:
        try:
            crosstab.resolve_banner(survey, args.by)
        except crosstab.CrosstabError as exc:
            return fail(f"--by: {exc}")

    with progress_bar("report", "questions", args.quiet) as tick:

        async def work(engine) -> bytes:
            return await report_html(engine, survey, completed_only=args.completed, where=where, banner=args.by,
                                     tz_name=settings.timezone, progress=tick, language=language)

        content = run_db(settings.database_url, lambda: with_engine(settings.database_url, work))
    write_output(output, content)
    print(f"wrote {args.output} ({len(content):,} bytes)")
    if pdf is not None:
        try:
            print_pdf(output, pdf)
        except ReportError as exc:
            return fail(str(exc))
        print(f"wrote {pdf} ({pdf.stat().st_size:,} bytes)")
    return 0


def _stats_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--completed", action="store_true", help="completed responses only")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="plain text (default) or JSON")
    parser.add_argument("--where", metavar="EXPR", help="respondent filter, e.g. '11=2 12=1-50 source=channel_post quality=ok'")
    parser.add_argument("--compare", action="store_true", help="compare with the questionnaire's baseline wave")
    parser.add_argument("--by", metavar="Q", help="cross every question by question Q (number or id) or 'source'")
    parser.add_argument("--quality", action="store_true",
                        help="the data-quality flags (speeders, fast answers, straightlining, duplicate texts) "
                             "and the flagged responses")


def _export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("csv", "xlsx", "sav"), required=True,
                        help="csv, xlsx, or sav (SPSS, with variable and value labels; R and Stata read it too)")
    parser.add_argument("--delimiter", default=",", help="CSV field separator (default ',')")
    parser.add_argument("--excel-ru", action="store_true",
                        help="CSV for Excel in a Russian locale: ';' as the separator (UTF-8 with BOM as always)")
    parser.add_argument("-o", "--output", required=True, help="file to write")
    parser.add_argument("--completed", action="store_true", help="completed responses only")
    parser.add_argument("--where", metavar="EXPR", help="respondent filter, e.g. '11=2 12=1-50' or 'quality=ok'")
    parser.add_argument("--by", metavar="Q", help="XLSX: add a sheet with every question crossed by question Q")
    add_quiet(parser)


def _report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", required=True, help="the HTML file to write, e.g. study.html")
    parser.add_argument("--completed", action="store_true", help="completed responses only")
    parser.add_argument("--where", metavar="EXPR", help="respondent filter, e.g. '11=2 12=1-50 source=channel_post'")
    parser.add_argument("--by", metavar="Q",
                        help="add a segments appendix: every choice question crossed by question Q (number or id) or 'source'")
    parser.add_argument("--lang", metavar="CODE",
                        help="the report's language, one of the questionnaire's (e.g. en): its headings, the questions "
                             "and options; default: the questionnaire's default language")
    parser.add_argument("--pdf", action="store_true",
                        help="also print it to a PDF beside the HTML (FILE.pdf) with headless Chromium, when installed")
    add_quiet(parser)


COMMANDS = [
    Command(
        "stats", "print the summary of the answers",
        "Print the summary of the answers in DATABASE_URL, as /stats shows it in Telegram (plain text),\n"
        "or in the stable JSON form. Refuses a database that does not exist instead of creating one.",
        "  surveybot stats\n"
        "  surveybot stats --completed --format json > summary.json\n"
        "  surveybot stats --where '11=2' --by 1 --compare\n"
        "  surveybot stats --quality\n"
        "  surveybot stats --where 'quality=ok'",
        _stats_arguments, cmd_stats,
    ),
    Command(
        "export", "export the responses to a file",
        "Write the responses in DATABASE_URL to a file, one row per response (partial ones marked\n"
        "in the status column), with a codebook: a sheet in XLSX, FILE.codebook.csv beside CSV and SAV.\n"
        "Times are ISO 8601 in TIMEZONE (default Europe/Moscow). Refuses a database that does not exist.",
        "  surveybot export --format xlsx -o answers.xlsx\n"
        "  surveybot export --format sav -o answers.sav          # SPSS, R (haven), Stata, pandas\n"
        "  surveybot export --format csv --excel-ru --completed -o done.csv",
        _export_arguments, cmd_export,
    ),
    Command(
        "report", "write the study as one HTML file",
        "Write the study as one self-contained HTML file that opens offline in any browser: a title block, contents,\n"
        "a section per part of the questionnaire (each question's chart, table of counts and shares, the baseline\n"
        "wave beside it with its test), the fieldwork (funnel, reminders) and the method. Figures are those of\n"
        "'surveybot stats --format json --compare'. Print → Save as PDF gives A4 pages, a part per page.",
        "  surveybot report -o study.html\n"
        "  surveybot report -o women.html --where '14=2' --by 11\n"
        "  surveybot report -o study-en.html --lang en\n"
        "  surveybot report -o study.html --completed --pdf      # study.pdf too, with headless Chromium",
        _report_arguments, cmd_report,
    ),
]
