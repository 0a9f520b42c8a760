"""PNG charts of a summary, drawn with matplotlib's object API (thread-safe, no pyplot).

Fonts: DejaVu Sans, shipped with matplotlib, covers Cyrillic.
"""

from __future__ import annotations

import io
import textwrap
from decimal import Decimal

import matplotlib

matplotlib.use("Agg")  # no display; must precede any pyplot import elsewhere in the process

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from analytics.render import fmt_percent  # noqa: E402
from analytics.summary import QuestionSummary, Summary  # noqa: E402
from survey.model import QuestionType  # noqa: E402

FONT = "DejaVu Sans"
BAR = "#4C78A8"
OTHER_BAR = "#9D9D9D"
LABEL_WIDTH = 38  # characters per line of a wrapped bar label
MAX_HIST_VALUES = 15  # number questions without buckets: one bar per value up to this many


def wrap_label(text: str, width: int = LABEL_WIDTH) -> str:
    """A chart label wrapped to lines of at most ``width`` characters."""
    return "\n".join(textwrap.wrap(text, width)) or text


def _bars(qs: QuestionSummary) -> list[tuple[str, int, float, bool]]:
    """(label, count, percent, is_other) per bar of a question."""
    if qs.is_choice or qs.type == QuestionType.SCALE:
        return [(o.label, o.count, float(o.percent or 0), o.is_other) for o in qs.options]
    if qs.type == QuestionType.NUMBER:
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
    return []


def png_bytes(fig: Figure) -> bytes:
    """A figure rendered as PNG bytes."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    return buf.getvalue()


def question_figure(qs: QuestionSummary) -> Figure:
    """The bar chart of one question as a matplotlib Figure (one bar per option, value or bucket)."""
    bars = _bars(qs)
    labels = [wrap_label(label) for label, *_ in bars]
    lines = sum(label.count("\n") + 1 for label in labels) or 1
    fig = Figure(figsize=(9, max(2.5, 0.9 + 0.32 * lines + 0.12 * len(bars))))
    ax = fig.add_subplot()
    title = wrap_label(f"{qs.number}. {qs.title} (n = {qs.n})", 70)
    ax.set_title(title, fontfamily=FONT, fontsize=12, loc="left")
    if not bars:
        ax.axis("off")
        ax.text(0.5, 0.5, "Нет диаграммы для этого типа вопроса", ha="center", va="center", fontfamily=FONT)
        return fig
    ys = list(range(len(bars)))
    values = [p for _, _, p, _ in bars]
    colors = [OTHER_BAR if other else BAR for *_, other in bars]
    ax.barh(ys, values, color=colors)
    ax.set_yticks(ys, labels, fontfamily=FONT, fontsize=9)
    ax.invert_yaxis()  # questionnaire order from the top
    top = max(values + [1.0])
    ax.set_xlim(0, top * 1.25)
    for y, (_, count, pct, _) in zip(ys, bars):
        text = f"{fmt_percent(_dec(pct))} ({count})"
        ax.text(pct + top * 0.01, y, text, va="center", fontfamily=FONT, fontsize=9)
    ax.set_xlabel("% ответивших", fontfamily=FONT)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    return fig


def _dec(value: float) -> Decimal:
    return Decimal(str(round(value, 6)))


def question_chart(qs: QuestionSummary) -> bytes:
    """PNG bytes of question_figure(qs)."""
    return png_bytes(question_figure(qs))


def funnel_figure(summary: Summary) -> Figure:
    """The funnel as a Figure: per question stacked bars answered / skipped / stopped here."""
    steps = summary.funnel
    labels = [wrap_label(f"{s.number}. {s.title}", 34) for s in steps]
    lines = sum(label.count("\n") + 1 for label in labels) or 1
    fig = Figure(figsize=(9, max(3.0, 1.2 + 0.3 * lines)))
    ax = fig.add_subplot()
    ax.set_title(f"Воронка (начали: {summary.started})", fontfamily=FONT, fontsize=12, loc="left")
    ys = list(range(len(steps)))
    answered = [s.answered for s in steps]
    skipped = [s.skipped for s in steps]
    dropped = [s.dropped for s in steps]
    ax.barh(ys, answered, color=BAR, label="ответили")
    ax.barh(ys, skipped, left=answered, color="#F2B447", label="пропустили")
    ax.barh(ys, dropped, left=[a + b for a, b in zip(answered, skipped)], color="#E45756", label="остановились")
    ax.set_yticks(ys, labels, fontfamily=FONT, fontsize=8)
    ax.invert_yaxis()
    for y, s in zip(ys, steps):
        ax.text(s.reached, y, f" {s.reached}", va="center", fontfamily=FONT, fontsize=8)
    ax.set_xlim(0, max([summary.started, 1]) * 1.12)
    # Below the axes, so it never hides the bars.
    ax.legend(prop={"family": FONT, "size": 8}, loc="upper center", bbox_to_anchor=(0.5, -0.04), ncol=3, frameon=False)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    return fig


def funnel_chart(summary: Summary) -> bytes:
    """PNG bytes of the funnel chart."""
    return png_bytes(funnel_figure(summary))
