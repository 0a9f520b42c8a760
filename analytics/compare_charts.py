"""Paired bars per question: the share now beside the earlier wave's, provenance on every earlier bar."""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.patches import Patch

from analytics.charts import BAR, FONT, png_bytes, wrap_label
from analytics.compare import PROVENANCE_TAGS, ComparedQuestion
from survey.i18n import Translator, translator

THEN_BAR = "#F2B447"
HATCH = {"published": "", "inferred": "..", "assumed": "xx"}  # an assumed figure never looks like a published one


def comparison_figure(q: ComparedQuestion, t: Translator | None = None) -> Figure:
    """Paired horizontal bars (now / earlier wave) for every figure of a question's baseline."""
    t = t or translator(None)
    wave = q.baseline.wave
    figures = q.figures
    labels = [wrap_label(f.label, 34) for f in figures]
    lines = sum(label.count("\n") + 1 for label in labels) or 1
    fig = Figure(figsize=(9, max(2.8, 1.3 + 0.34 * lines + 0.28 * len(figures))))
    ax = fig.add_subplot()
    title = t.gettext("{number}. {title}: now (n = {n}) and {wave} (n = {base_n})").format(
        number=q.number, title=q.title, n=q.n, wave=wave, base_n=q.baseline.n)
    ax.set_title(wrap_label(title, 55),
                 fontfamily=FONT, fontsize=12, loc="left")
    height = 0.38
    now = [float(f.percent or 0) for f in figures]
    then = [float(f.base_percent or 0) for f in figures]
    ys = list(range(len(figures)))
    ax.barh([y - height / 2 for y in ys], now, height, color=BAR)
    for y, f, value in zip(ys, figures, then):
        ax.barh(y + height / 2, value, height, color=THEN_BAR, hatch=HATCH[f.base.provenance], edgecolor="#7A5A12")
    ax.set_yticks(ys, labels, fontfamily=FONT, fontsize=9)
    ax.invert_yaxis()
    top = max(now + then + [1.0])
    ax.set_xlim(0, top * 1.35)
    for y, f in zip(ys, figures):
        star = " ✱" if f.significant else ""
        ax.text(float(f.percent or 0) + top * 0.01, y - height / 2, f"{t.percent(f.percent)}{star}", va="center",
                fontfamily=FONT, fontsize=8)
        tag = t.gettext(PROVENANCE_TAGS[f.base.provenance])
        ax.text(float(f.base_percent or 0) + top * 0.01, y + height / 2, f"{t.percent(f.base_percent)} [{tag}]",
                va="center", fontfamily=FONT, fontsize=8)
    handles = [Patch(color=BAR, label=t.gettext("now (n = {n})").format(n=q.n))]
    for provenance in dict.fromkeys(f.base.provenance for f in figures):
        handles.append(Patch(facecolor=THEN_BAR, hatch=HATCH[provenance], edgecolor="#7A5A12",
                             label=f"{wave}: {t.gettext(PROVENANCE_TAGS[provenance])}"))
    # The legend in a strip of its own under the axis label (anchored to the axes it sat on the label).
    fig.legend(handles=handles, prop={"family": FONT, "size": 8}, loc="lower center", ncol=len(handles), frameon=False)
    ax.set_xlabel(t.gettext("% of those who answered; ✱ — the difference is significant (p < {alpha})").format(
        alpha=t.decimal(0.05, 2)), fontfamily=FONT)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout(rect=(0, 0.32 / fig.get_figheight(), 1, 1))
    return fig


def comparison_chart(q: ComparedQuestion, t: Translator | None = None) -> bytes:
    """PNG bytes of comparison_figure(q)."""
    return png_bytes(comparison_figure(q, t))
