"""The study as one self-contained HTML file: every chart, the earlier wave, the segments, fieldwork and method.

``build_report`` reads what the other analytics read — the summary (analytics.summary), the comparison with
the questionnaire's baseline wave (analytics.compare), the cross-tabs by a banner (analytics.crosstab) — so
every figure in the report is the figure of ``surveybot stats --format json`` (``--compare``, ``--by``) for
the same data. ``render_report`` lays it out with the Jinja2 templates in ``analytics/report_templates/``
(autoescaping on: respondents' texts are untrusted), the charts drawn by the same functions as the chat's
PNGs (analytics.charts, analytics.compare_charts) and inlined as SVG. The file loads nothing: no script, no
font, no image from anywhere (its Content-Security-Policy forbids it too). A print stylesheet gives A4 pages,
each part on a new page. ``print_pdf`` prints it with a headless Chromium when one is installed.

Structure follows the questionnaire: a title block, contents, one section per ``part`` of the questions,
then fieldwork (the funnel, reminders), method (the tests and their caveats) and, with a banner, segments.
"""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, assert_never
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from analytics.compare import PROVENANCE_NOTE, PROVENANCE_TAGS, TEST_NAMES, ComparedFigure, Comparison, compare, fmt_p
from analytics.summary import QuestionSummary, Summary, build_summary, percent
from analytics.summary_text import GROUP_NAMES, MULTIPLE_NOTE, fmt_decimal, fmt_duration, fmt_median, fmt_percent
from survey.i18n import N_, LocalizedError, Translator, catalog_language, translator
from survey.model import Baseline, QuestionType, Survey

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from analytics.crosstab import CrossTab
    from analytics.filters import Filter

TEXTS_SHOWN = 50  # a text question's answers (and "other" texts) listed in full; the rest are counted
PART_NAMES = {"profile": N_("Respondents' profile")}
NO_PART = N_("Questions")


class ReportError(ValueError):
    """A report that cannot be made as asked (e.g. no Chromium for the PDF); the message is one line."""


class ReportLanguageError(LocalizedError):
    """A report asked for in a language the questionnaire is not written in; the message lists its languages."""


# What the template shows ------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One row of a question's table: an option (or scale point, or value range), its count and share, and the
    earlier wave's figure beside it when the questionnaire has one."""

    key: str
    label: str
    count: int
    percent: Decimal | None
    kind: str = "option"  # "option" (its key is the option id / scale point) or "bucket" (its key the label)
    is_other: bool = False
    then: ComparedFigure | None = None


@dataclass(frozen=True)
class Chart:
    """An inline SVG chart and what it shows, for the figure's caption."""

    svg: str  # markupsafe.Markup: matplotlib's SVG is markup of our own drawing, its texts escaped by matplotlib
    caption: str


@dataclass
class QuestionView:
    """One question as the report shows it."""

    summary: QuestionSummary
    heading: str
    text: str
    lines: list[Line]
    ranges: list[Line] = field(default_factory=list)  # scale groups / number buckets
    range_title: str = ""
    chart: Chart | None = None
    comparison_chart: Chart | None = None
    compared: bool = False
    base_n: int | None = None
    base_n_tag: str = ""
    texts: list[str] = field(default_factory=list)  # the first TEXTS_SHOWN answers or "other" texts
    texts_more: int = 0
    note: str = ""


@dataclass
class Part:
    """One ``part`` of the questionnaire: its heading and questions."""

    key: str
    title: str
    questions: list[QuestionView]


@dataclass(frozen=True)
class Report:
    """Everything a report shows, read in one go (``build_report``) and laid out by ``render_report``."""

    survey: Survey
    summary: Summary
    comparison: Comparison | None
    tables: list[CrossTab]
    generated_at: datetime
    tz_name: str = "UTC"
    language: str = ""  # the language the report is written in; "" = the questionnaire's default language

    @property
    def lang(self) -> str:
        """The report's language code (``<html lang>``): the one asked for, else the questionnaire's default."""
        return self.language or self.survey.default_language

    @property
    def t(self) -> Translator:
        """The report's own words, in its language (the English msgids when the bot has no catalog for it)."""
        return translator(catalog_language(self.lang))


def check_language(survey: Survey, code: str) -> str:
    """``code`` normalised (``EN`` → ``en``) when the questionnaire is written in it; ReportLanguageError listing
    its languages otherwise."""
    norm = code.strip().lower().replace("_", "-")
    if norm not in survey.languages:
        raise ReportLanguageError(N_("the questionnaire is written in {languages}, not in «{code}»"),
                                  languages=", ".join(survey.languages), code=code)
    return norm


async def build_report(
    engine: AsyncEngine, survey: Survey, *, completed_only: bool = False, where: Filter | None = None,
    banner: str | None = None, tz_name: str = "UTC", generated_at: datetime | None = None, language: str | None = None,
) -> Report:
    """The summary, the comparison with the first baseline wave (if any) and the cross-tabs by ``banner``, with the
    questionnaire's texts and the report's words in ``language`` (one of ``survey.languages``, see
    ``check_language``, which raises ReportLanguageError; default: the questionnaire's default language)."""
    from analytics.compare import baseline_waves

    lang = check_language(survey, language) if language else survey.default_language
    survey = survey.in_language(lang)
    summary = await build_summary(engine, survey, completed_only=completed_only, where=where, language=lang)
    comparison = compare(summary, survey, None, summary.filter) if baseline_waves(survey) else None
    tables: list[CrossTab] = []
    if banner is not None:
        from analytics.crosstab import build_crosstabs

        tables = await build_crosstabs(engine, survey, banner, where=where, completed_only=completed_only,
                                       language=lang)
    return Report(survey, summary, comparison, tables, generated_at or datetime.now(UTC), tz_name, lang)


async def report_html(
    engine: AsyncEngine, survey: Survey, *, progress: Callable[[int, int], None] | None = None, **options: Any
) -> bytes:
    """``build_report`` then ``render_report`` off the event loop: the HTML file's bytes (``progress``: as
    render_report)."""
    report = await build_report(engine, survey, **options)
    return (await asyncio.to_thread(render_report, report, progress)).encode("utf-8")


def report_filename(survey: Survey, *, completed_only: bool = False, filtered: bool = False) -> str:
    """``report_<survey id>[_completed][_filtered].html``."""
    return f"report_{survey.id}{'_completed' if completed_only else ''}{'_filtered' if filtered else ''}.html"


# Shaping ------------------------------------------------------------------------------------


def part_title(part: str | int | None, t: Translator | None = None) -> str:
    """How a part is headed: «Part 1» / «Часть 1», «Respondents' profile», or the part's own name."""
    t = t or translator(None)
    if part is None:
        return t.gettext(NO_PART)
    text = str(part)
    if text.isdigit():
        return t.gettext("Part {number}").format(number=text)
    return t.gettext(PART_NAMES[text]) if text in PART_NAMES else text


def _range_figures(figures: dict[str, ComparedFigure], baseline: Baseline | None) -> dict[tuple[int, int], ComparedFigure]:
    """The earlier wave's range figures ("4-7") by their bounds."""
    if baseline is None:
        return {}
    out = {}
    for key in baseline.groups:
        bounds = Baseline.group_bounds(key)
        if bounds is not None and key in figures:
            out[bounds] = figures[key]
    return out


def _question_view(report: Report, qs: QuestionSummary, index: int) -> QuestionView:
    from markupsafe import Markup

    from analytics import charts, compare_charts

    survey, t = report.survey, report.t
    q = survey.get(qs.id)
    cq = next((c for c in report.comparison.questions if c.id == qs.id), None) if report.comparison else None
    figures = {f.key: f for f in cq.figures} if cq else {}
    options = cq.baseline.options if cq else {}
    view = QuestionView(qs, f"{qs.number}. {q.heading or q.title or q.text}", q.text, [])
    view.lines = [Line(o.id, o.label, o.count, o.percent, is_other=o.is_other,
                       then=figures.get(o.id) if o.id in options else None) for o in qs.options]
    by_bounds = _range_figures(figures, cq.baseline if cq else None)
    # The report's one dispatch on the question type: a type without a case fails loudly (assert_never).
    match qs.type:
        case QuestionType.SINGLE | QuestionType.MULTIPLE:
            if qs.is_multiple:
                view.note = t.gettext(MULTIPLE_NOTE)
            view.texts = qs.other_texts
        case QuestionType.SCALE:
            view.range_title = t.gettext("Rating groups")
            view.ranges = [Line(g.label, f"{t.gettext(GROUP_NAMES[g.key]) if g.key in GROUP_NAMES else g.key} ({g.label})",
                                g.count, g.percent,
                                kind="bucket", then=by_bounds.get((g.low, g.high or g.low))) for g in qs.groups]
        case QuestionType.NUMBER:
            view.range_title = t.gettext("Intervals")
            view.ranges = [Line(b.label, b.label, b.count, b.percent, kind="bucket",
                                then=by_bounds.get((b.low, b.high)) if b.high is not None else None)
                           for b in qs.buckets]
        case QuestionType.TEXT:
            view.texts = qs.other_texts
        case _ as unreachable:
            assert_never(unreachable)
    view.texts_more = max(0, len(view.texts) - TEXTS_SHOWN)
    view.texts = view.texts[:TEXTS_SHOWN]
    if cq is not None:
        view.compared = True
        view.base_n, view.base_n_tag = cq.baseline.n, t.gettext(PROVENANCE_TAGS[cq.baseline.n_provenance])
    if charts.has_chart(qs):
        fig = charts.question_figure(qs, q.ordered, t)
        title = t.gettext("Chart: {heading} (n = {n})").format(heading=view.heading, n=qs.n)
        view.chart = Chart(Markup(charts.svg_markup(fig, title, f"c{index}-")), _chart_caption(t, qs))
    if cq is not None and cq.figures and qs.n:
        fig = compare_charts.comparison_figure(cq, t)
        title = t.gettext("Comparison with the wave {wave}: {heading}").format(wave=cq.baseline.wave, heading=view.heading)
        caption = t.gettext("Now (n = {n}) and {wave} (n = {base_n}); ✱ — the difference is significant (p < {alpha})")
        view.comparison_chart = Chart(Markup(charts.svg_markup(fig, title, f"w{index}-")), caption.format(
            n=qs.n, wave=cq.baseline.wave, base_n=cq.baseline.n, alpha=t.decimal(0.05, 2)))
    return view


def _chart_caption(t: Translator, qs: QuestionSummary) -> str:
    from analytics.charts import MULTI_NOTE  # matplotlib loads with the first report, not at the bot's start

    notes = [t.gettext("Base: those who answered the question, n = {n}").format(n=qs.n)]
    if qs.is_multiple:
        notes.append(t.gettext(MULTI_NOTE))
    return "; ".join(notes)


def parts(report: Report, progress: Callable[[int, int], None] | None = None) -> list[Part]:
    """The questions grouped by ``part`` in questionnaire order (a part keeps the place of its first question);
    ``progress`` hears (questions drawn, questions in all) as each one's chart is made."""
    out: dict[str, Part] = {}
    total = len(report.summary.questions)
    for i, qs in enumerate(report.summary.questions, 1):
        part = report.survey.get(qs.id).part
        key = str(part) if part is not None else ""
        if key not in out:
            out[key] = Part(key, part_title(part, report.t), [])
        out[key].questions.append(_question_view(report, qs, i))
        if progress is not None:
            progress(i, total)
    return list(out.values())


# Formatting for the template ------------------------------------------------------------------


def _zone(tz_name: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def fmt_date(value: datetime | None, tz_name: str) -> str:
    """A moment as "01.03.2026 13:01" in the zone (its name shown by the caller)."""
    return "—" if value is None else value.astimezone(_zone(tz_name)).strftime("%d.%m.%Y %H:%M")


def data_number(value: Decimal | float | int | None) -> str:
    """A figure for a ``data-`` attribute: the JSON export's number exactly (``repr`` of the float), "" for none."""
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return repr(float(value))


def fmt_diff(t: Translator, value: Decimal | None) -> str:
    """A difference in percentage points: "+3,2", "−1,0", "±0,0" (the language's decimal sign)."""
    if value is None:
        return "—"
    sign = "+" if value > 0 else "−" if value < 0 else "±"
    return f"{sign}{fmt_decimal(t, abs(value))}"


def fmt_test(t: Translator, f: ComparedFigure) -> str:
    """The test of a figure against the earlier wave: "p = 0,023 (z-тест)"."""
    return "p —" if f.test is None else f"{fmt_p(t, f.test.p_value)} ({t.gettext(TEST_NAMES[f.test.name])})"


def css_string(text: str) -> str:
    """Text as the inside of a double-quoted CSS string in a ``<style>`` element: letters, digits and spaces as they
    are, everything else (quotes, backslashes, ``<``, line breaks) as a hex escape ended by the one space CSS eats."""
    return "".join(c if c.isalnum() or c == " " else f"\\{ord(c):x} " for c in text)


def _crosstab_view(t: CrossTab) -> dict[str, Any]:
    from analytics.crosstab_render import test_line

    return {"table": t, "test": test_line(t.test, translator(t.language))
            if not t.tests_each_option and (t.test or not t.note) else ""}


def _environment(t: Translator) -> Any:
    """The templates' environment: autoescaping, and ``_("...")`` (jinja2.ext.i18n, new style: ``%(name)s``
    placeholders filled and escaped by Jinja) looking up ``t``'s catalog, the same as the code's texts."""
    import jinja2

    env = jinja2.Environment(
        extensions=["jinja2.ext.i18n"],
        loader=jinja2.PackageLoader("analytics", "report_templates"),
        autoescape=True,  # every value is escaped unless the code marks it safe (the SVG from matplotlib only)
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(pct=lambda v: fmt_percent(t, v), dec=lambda v, places=1: fmt_decimal(t, v, places),
                       median=lambda v: fmt_median(t, v), p=lambda v: fmt_p(t, v), data=data_number,
                       diff=lambda v: fmt_diff(t, v))
    env.install_gettext_translations(t, newstyle=True)  # type: ignore[attr-defined]  # added by the i18n extension
    return env


def render_report(report: Report, progress: Callable[[int, int], None] | None = None) -> str:
    """The report as one HTML5 document (CPU-bound: charts are drawn here; run it off the event loop); ``progress``
    hears (questions drawn, questions in all), from the thread it runs in."""
    from markupsafe import Markup

    from analytics import charts
    from analytics.crosstab_render import UNRELIABLE, marks_note

    t = report.t
    s = report.summary
    meta = report.survey.survey
    sections = parts(report, progress)
    funnel_title = t.gettext("Funnel: share of those who started who reached the question")
    funnel_svg = Markup(charts.svg_markup(charts.funnel_figure(s), funnel_title, "funnel-")) if s.funnel else None
    reminders = s.reminders
    template = _environment(t).get_template("report.html.j2")
    return template.render(
        lang=report.lang, s=s, meta=meta, parts=sections, comparison=report.comparison,
        tables=[_crosstab_view(t) for t in report.tables], banner=report.tables[0].banner if report.tables else None,
        funnel_svg=funnel_svg, css_title=css_string(meta.title),
        first=fmt_date(s.first_answer_at, report.tz_name), last=fmt_date(s.last_answer_at, report.tz_name),
        generated=fmt_date(report.generated_at, report.tz_name), tz=report.tz_name,
        median_time=fmt_duration(t, s.median_completion_seconds),
        reminded_back=fmt_percent(t, percent(reminders.came_back, reminders.reminded)),
        reminded_done=fmt_percent(t, percent(reminders.completed, reminders.reminded)),
        reached=lambda step: fmt_percent(t, percent(step.reached, s.started)),
        provenance_tags={key: t.gettext(tag) for key, tag in PROVENANCE_TAGS.items()},
        provenance_note=t.gettext(PROVENANCE_NOTE), fmt_test=lambda f: fmt_test(t, f),
        marks_note=marks_note(t), unreliable=t.gettext(UNRELIABLE),
    )


# PDF --------------------------------------------------------------------------------------------

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--no-pdf-header-footer")


def find_chromium() -> str | None:
    """The path of an installed Chromium (or Chrome), or None."""
    import shutil

    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


def print_pdf(html_path: Path, pdf_path: Path, browser: str | None = None, timeout: float = 120.0) -> None:
    """Print the report to PDF with headless Chromium (its print stylesheet: A4, a part per page)."""
    browser = browser or find_chromium()
    if browser is None:
        raise ReportError("--pdf needs Chromium (Debian: apt install chromium); the HTML prints from any browser too")
    with tempfile.TemporaryDirectory(prefix="surveybot-chromium-") as profile:
        command = [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--print-to-pdf={pdf_path.resolve()}",
                   html_path.resolve().as_uri()]
        try:
            done = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ReportError(f"Chromium did not print the PDF: {exc}") from None
    if done.returncode != 0 or not pdf_path.exists() or pdf_path.stat().st_size == 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
        raise ReportError(f"Chromium did not print the PDF (exit {done.returncode}): {tail[0]}")
