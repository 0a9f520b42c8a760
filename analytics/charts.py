"""Charts of a summary, drawn with matplotlib's object API (thread-safe, no pyplot).

One function builds each chart as a matplotlib ``Figure`` (``question_figure``, ``funnel_figure``; the wave
comparison in analytics/compare_charts.py); ``png_bytes`` renders it for the chat, ``svg_markup`` as inline
SVG for the HTML report (analytics/report.py), so both show the same ordering, labels and notes.

The charts' own words and numbers are in the reader's language: a question's chart takes the translator ``t``
(default: the fallback language), the funnel the summary's language. Fonts: DejaVu Sans, shipped with
matplotlib, covers Cyrillic.
"""

from __future__ import annotations

import html
import io
import re
import textwrap
from decimal import Decimal
from typing import assert_never

import matplotlib

matplotlib.use("Agg")  # no display; must precede any pyplot import elsewhere in the process

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from analytics.summary import QuestionSummary, Summary
from survey.i18n import N_, Translator, translator
from survey.model import NUMERIC_TYPES, QuestionType

FONT = "DejaVu Sans"
BAR = "#4C78A8"
OTHER_BAR = "#9D9D9D"
LABEL_WIDTH = 38  # characters per line of a wrapped bar label
MAX_HIST_VALUES = 15  # number questions without buckets: one bar per value up to this many


MEAN_COLOR = "#E45756"
NOTE_COLOR = "#555555"
MULTI_NOTE = N_("several answers, the sum is over 100%")


def wrap_label(text: str, width: int = LABEL_WIDTH) -> str:
    """A chart label wrapped to lines of at most ``width`` characters, between words only."""
    # Never break at a hyphen: «аккаунт-» / «директора» reads as two words.
    return "\n".join(textwrap.wrap(text, width, break_on_hyphens=False, break_long_words=False)) or text


def has_chart(qs: QuestionSummary) -> bool:
    """Whether a question gets a picture (text questions get a file of their answers instead)."""
    return _bars(qs) is not None


Bars = list[tuple[str, int, float, bool]]


def _bars(qs: QuestionSummary, ordered: bool = False) -> Bars | None:
    """(label, count, percent, is_other) per bar, in reading order; None: this type has no chart.

    Nominal options are ranked by share (ties keep questionnaire order) with "other" last; ordered
    options (``ordered: true`` in the questionnaire), scale points and number values keep their order.
    The charts' one dispatch on the question type: a type without a case here fails loudly (assert_never).
    """
    match qs.type:
        case QuestionType.SINGLE | QuestionType.MULTIPLE:
            bars = [(o.label, o.count, float(o.percent or 0), o.is_other) for o in qs.options]
            if not ordered:
                bars.sort(key=lambda b: (b[3], -b[1]))  # stable: equal counts stay in questionnaire order
            else:
                bars.sort(key=lambda b: b[3])
            return bars
        case QuestionType.SCALE:
            return [(o.label, o.count, float(o.percent or 0), o.is_other) for o in qs.options]
        case QuestionType.NUMBER:
            if qs.buckets:
                return [(b.label, b.count, float(b.percent or 0), False) for b in qs.buckets]
            if len(qs.distribution) <= MAX_HIST_VALUES:
                return [(str(v), c, 100.0 * c / qs.n if qs.n else 0.0, False) for v, c in qs.distribution]
            # Many distinct values: ten equal ranges between the smallest and the largest.
            lo, hi = qs.distribution[0][0], qs.distribution[-1][0]
            step = max(1, -(-(hi - lo + 1) // 10))
            out = []
            for start in range(lo, hi + 1, step):
                end = start + step - 1
                c = sum(cnt for v, cnt in qs.distribution if start <= v <= end)
                out.append((f"{start}–{end}", c, 100.0 * c / qs.n if qs.n else 0.0, False))
            return out
        case QuestionType.TEXT:
            return None  # no chart: the answers go out as a file (answers_file)
        case _ as unreachable:
            assert_never(unreachable)


def png_bytes(fig: Figure) -> bytes:
    """A figure rendered as PNG bytes."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    return buf.getvalue()


# SVG for the report: text stays text (<text> elements, a fraction of the size of glyph outlines, selectable and
# searchable), element ids derive from a fixed salt so the same data gives the same bytes.
SVG_METADATA: dict[str, str | None] = {"Date": None, "Creator": None, "Format": None, "Type": None}
_SVG_TAG = re.compile(r"<[^>]+>")
_SVG_REF = re.compile(r'(\bid="|url\(#|href="#)([^")]+)')


def svg_markup(fig: Figure, title: str, id_prefix: str) -> str:
    """A figure as an inline ``<svg>`` element for an HTML page: its ``<title>`` (the accessible name) first,
    every id (clip paths, markers, hatches) prefixed with ``id_prefix`` so charts on one page never share one."""
    FigureCanvasSVG(fig)
    buf = io.StringIO()
    # rc_context sets process-wide parameters for the call; only svg.* change, which nothing but SVG output reads,
    # so a PNG drawn meanwhile in another thread is unaffected.
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "surveybot-report"}):
        fig.savefig(buf, format="svg", metadata=SVG_METADATA)
    text = buf.getvalue()
    text = text[text.index("<svg"):]  # the XML declaration and DOCTYPE belong to a standalone file only
    # Ids only inside tags: text between tags is escaped by matplotlib (no "<" or ">"), so a tag never spans text.
    text = _SVG_TAG.sub(lambda tag: _SVG_REF.sub(lambda m: m.group(1) + id_prefix + m.group(2), tag.group(0)), text)
    title_id = f"{id_prefix}title"
    head_end = text.index(">") + 1
    return (text[: head_end - 1] + f' role="img" aria-labelledby="{title_id}">'
            + f'<title id="{title_id}">{html.escape(title)}</title>' + text[head_end:])


def _notes(t: Translator, qs: QuestionSummary, extra: list[str] | None = None) -> str:
    """The line under a chart: the base, and for multiple choice that shares add up past 100 %."""
    notes = [t.gettext("Base: those who answered the question, n = {n}").format(n=qs.n)]
    if qs.is_multiple:
        notes.append(t.gettext(MULTI_NOTE))
    return "; ".join(notes + (extra or []))


def _mean_marker(qs: QuestionSummary) -> float | None:
    return float(qs.mean) if qs.mean is not None and qs.type in NUMERIC_TYPES else None


def question_figure(qs: QuestionSummary, ordered: bool = False, t: Translator | None = None) -> Figure:
    """The chart of one question: ranked horizontal bars for nominal options, columns in scale order
    with the mean marked for scales; the base (and the multiple-choice note) under the picture."""
    t = t or translator(None)
    bars = _bars(qs, ordered) or []
    if qs.type == QuestionType.SCALE and bars:
        return _scale_figure(t, qs, bars)
    labels = [wrap_label(label) for label, *_ in bars]
    lines = sum(label.count("\n") + 1 for label in labels) or 1
    fig = Figure(figsize=(9, max(2.8, 1.3 + 0.32 * lines + 0.12 * len(bars))))
    ax = fig.add_subplot()
    title = wrap_label(f"{qs.number}. {qs.title} (n = {qs.n})", 70)
    ax.set_title(title, fontfamily=FONT, fontsize=12, loc="left")
    if not bars:
        ax.axis("off")
        ax.text(0.5, 0.5, t.gettext("The answers to this question are in a file"), ha="center", va="center",
                fontfamily=FONT)
        return fig
    ys = list(range(len(bars)))
    values = [p for _, _, p, _ in bars]
    colors = [OTHER_BAR if other else BAR for *_, other in bars]
    ax.barh(ys, values, color=colors)
    ax.set_yticks(ys, labels, fontfamily=FONT, fontsize=9)
    ax.invert_yaxis()  # the first bar on top
    top = max(values + [1.0])
    ax.set_xlim(0, top * 1.25)
    for y, (_, count, pct, _) in zip(ys, bars):
        text = f"{t.percent(_dec(pct))} ({count})"
        ax.text(pct + top * 0.01, y, text, va="center", fontfamily=FONT, fontsize=9)
    ax.set_xlabel(t.gettext("% of those who answered"), fontfamily=FONT)
    extra = []
    mean = _mean_marker(qs)
    if mean is not None:
        extra.append(_mean_note(t, mean, qs))
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    _footnote(t, fig, _notes(t, qs, extra))
    return fig


def _mean_note(t: Translator, mean: float, qs: QuestionSummary) -> str:
    if qs.median is None:
        return t.gettext("mean {mean}").format(mean=t.decimal(mean))
    return t.gettext("mean {mean}, median {median}").format(mean=t.decimal(mean), median=t.decimal(float(qs.median)))


def _footnote(t: Translator, fig: Figure, text: str) -> None:
    """Lay the figure out and put ``text`` in a strip (about 0.3 inch per line) kept free under the axes."""
    wrapped = wrap_label(text, 110)
    strip = (0.12 + 0.16 * (wrapped.count("\n") + 1)) / fig.get_figheight()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_scale() == "linear" and axis.get_major_formatter().__class__.__name__ == "ScalarFormatter":
                axis.set_major_formatter(FuncFormatter(lambda value, _pos: t.number(value)))
    fig.tight_layout(rect=(0, strip, 1, 1))
    fig.text(0.01, 0.04 / fig.get_figheight(), wrapped, fontfamily=FONT, fontsize=8, color=NOTE_COLOR, ha="left",
             va="bottom")


def _scale_figure(t: Translator, qs: QuestionSummary, bars: Bars) -> Figure:
    """A scale as columns in scale order, the mean as a dashed line between the points."""
    fig = Figure(figsize=(9, 4.2))
    ax = fig.add_subplot()
    ax.set_title(wrap_label(f"{qs.number}. {qs.title} (n = {qs.n})", 70), fontfamily=FONT, fontsize=12, loc="left")
    xs = list(range(len(bars)))
    values = [p for _, _, p, _ in bars]
    ax.bar(xs, values, color=BAR)
    labels = [label for label, *_ in bars]
    if qs.min_label:
        labels[0] = f"{labels[0]}\n{wrap_label(qs.min_label, 14)}"
    if qs.max_label:
        labels[-1] = f"{labels[-1]}\n{wrap_label(qs.max_label, 14)}"
    ax.set_xticks(xs, labels, fontfamily=FONT, fontsize=9)
    top = max(values + [1.0])
    ax.set_ylim(0, top * 1.3)
    for x, (_, count, pct, _) in zip(xs, bars):
        ax.text(x, pct + top * 0.02, f"{t.percent(_dec(pct))}\n({count})", ha="center", va="bottom",
                fontfamily=FONT, fontsize=8)
    extra = []
    mean = _mean_marker(qs)
    if mean is not None and qs.scale_min is not None:
        position = mean - qs.scale_min  # the columns stand at 0 .. k-1 for the points min .. max
        ax.axvline(position, color=MEAN_COLOR, linestyle="--", linewidth=1.5)
        ax.text(position, top * 1.25, " " + t.gettext("mean {mean}").format(mean=t.decimal(mean)), color=MEAN_COLOR,
                fontfamily=FONT, fontsize=9, ha="left", va="top")
        extra.append(_mean_note(t, mean, qs))
    ax.set_ylabel(t.gettext("% of those who answered"), fontfamily=FONT)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    _footnote(t, fig, _notes(t, qs, extra))
    return fig


def answers_file(qs: QuestionSummary, filter_text: str | None = None, t: Translator | None = None) -> bytes:
    """A text question's answers as a UTF-8 text file, one numbered answer per paragraph."""
    t = t or translator(None)
    head = [f"{qs.number}. {qs.title}", qs.text if qs.text != qs.title else "",
            t.gettext("Answers: {count} (n = {n})").format(count=len(qs.other_texts), n=qs.n)]
    if filter_text:
        head.append(t.gettext("Filter: {filter}").format(filter=filter_text))
    body = [f"{i}. {text}" for i, text in enumerate(qs.other_texts, 1)] or ["(" + t.gettext("no answers yet") + ")"]
    return ("\n".join(line for line in head if line) + "\n\n" + "\n\n".join(body) + "\n").encode("utf-8")


def _dec(value: float) -> Decimal:
    return Decimal(str(round(value, 6)))


def question_chart(qs: QuestionSummary, ordered: bool = False, t: Translator | None = None) -> bytes:
    """PNG bytes of question_figure(qs)."""
    return png_bytes(question_figure(qs, ordered, t))


def funnel_points(summary: Summary) -> list[tuple[str, float, int]]:
    """(x label, % of the started responses still in the survey, how many stopped there) per question,
    then «completed» with the completed share."""
    t = translator(summary.language)
    started = summary.started or 0
    share = (lambda n: 100.0 * n / started) if started else (lambda n: 0.0)
    points = [(str(s.number), share(s.reached), s.dropped) for s in summary.funnel]
    points.append((t.gettext("compl."), share(summary.completed), 0))
    return points


def funnel_figure(summary: Summary) -> Figure:
    """The funnel as the share of started responses still answering at each question (a line, so the
    axis may start above zero without exaggerating bars), the drop-off of each step labelled."""
    t = translator(summary.language)
    points = funnel_points(summary)
    fig = Figure(figsize=(9, 4.6))
    ax = fig.add_subplot()
    ax.set_title(t.gettext("Funnel: share of those who started who reached the question (started: {count})").format(
        count=summary.started), fontfamily=FONT, fontsize=12, loc="left")
    xs = list(range(len(points)))
    shares = [p for _, p, _ in points]
    ax.plot(xs[:-1], shares[:-1], color=BAR, marker="o", linewidth=2)
    ax.plot(xs[-2:], shares[-2:], color=BAR, linestyle=":", linewidth=1.5)
    ax.plot(xs[-1:], shares[-1:], color="#54A24B", marker="s", markersize=8)
    low = min(shares + [100.0])
    bottom = max(0.0, (int(low) // 10) * 10 - 10.0)
    ax.set_ylim(bottom, 104)
    span = 104 - bottom
    for x, (_, pct, stopped) in zip(xs, points):
        ax.text(x, pct + span * 0.025, t.percent(_dec(pct)), ha="center", va="bottom", fontfamily=FONT, fontsize=8)
        if stopped:
            ax.text(x, pct - span * 0.05, f"−{stopped}", ha="center", va="top", color=MEAN_COLOR, fontfamily=FONT,
                    fontsize=8, fontweight="bold")
    ax.set_xticks(xs, [label for label, *_ in points], fontfamily=FONT, fontsize=9)
    ax.set_xlabel(t.gettext("question number"), fontfamily=FONT)
    ax.set_ylabel(t.gettext("% of those who started"), fontfamily=FONT)
    ax.grid(axis="y", color="#DDDDDD", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    notes = [t.gettext("in red — how many questionnaires stopped at the question and did not go on")]
    if bottom > 0:
        notes.append(t.gettext("the axis starts at {value}%").format(value=int(bottom)))
    notes.append(t.gettext("completed {completed} of {started}").format(completed=summary.completed,
                                                                       started=summary.started))
    _footnote(t, fig, "; ".join(notes))
    return fig


def funnel_chart(summary: Summary) -> bytes:
    """PNG bytes of the funnel chart."""
    return png_bytes(funnel_figure(summary))
