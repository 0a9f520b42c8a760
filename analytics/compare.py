"""The new wave against an earlier one: the questionnaire's ``baseline:`` figures beside today's shares.

For every question with a baseline, each figure (an option, a scale point or a value range) gets
the share now (count of the question's n; multiple choice on the respondents' base), the earlier
share (its count of its n, with the figure as the source printed it), the difference in
percentage points, and the two-sided test of equal proportions from ``analytics.significance``
(pooled z-test, or Fisher's exact test when an expected count is below 5). Every earlier figure
keeps its provenance (published / inferred / assumed) wherever it is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from html import escape
from typing import Any

from analytics.messages import pack_blocks
from analytics.significance import TestResult, two_proportions
from analytics.summary import QuestionSummary, Summary, as_float, percent, round_half_up
from analytics.summary_text import fmt_decimal, fmt_percent
from survey.i18n import FALLBACK_LANGUAGE, N_, Translator, translator
from survey.model import Baseline, BaselineFigure, QuestionType, Survey

PROVENANCE_TAGS = {"published": N_("publ."), "inferred": N_("inferred"), "assumed": N_("assumption")}
PROVENANCE_NOTE = N_("Tags of the earlier wave: «publ.» — printed in the article; «inferred» — computed from its "
                     "figures; «assumption» — not in the article, an assumption, not a published figure.")
TEST_NAMES = {"z": N_("z-test"), "fisher": N_("Fisher's test")}


@dataclass(frozen=True)
class ComparedFigure:
    """One option (or scale point, or range) now and in the earlier wave."""

    key: str
    label: str
    count: int
    n: int
    percent: Decimal | None
    base: BaselineFigure
    base_n: int
    base_percent: Decimal | None  # the earlier count of its n, one decimal
    diff_pp: Decimal | None
    test: TestResult | None

    @property
    def printed(self) -> str:
        """The earlier figure as the source printed it ("14%", "58,1%")."""
        if self.base.printed:
            return self.base.printed
        return f"{str(self.base.percent).replace('.', ',')}%"

    @property
    def significant(self) -> bool:
        """The difference is significant at p < 0.05."""
        return self.test is not None and self.test.significant


@dataclass(frozen=True)
class ComparedQuestion:
    """A question with a baseline: its figures now against the earlier wave."""

    id: str
    number: int
    title: str
    type: QuestionType
    n: int
    baseline: Baseline
    figures: list[ComparedFigure]


@dataclass(frozen=True)
class Comparison:
    """Every question with a baseline of one wave, and both waves' respondent counts."""

    wave: str
    source: str
    respondents: int  # the new wave: responses the summary counts
    base_respondents: int | None
    filter: str | None
    questions: list[ComparedQuestion]
    language: str = FALLBACK_LANGUAGE  # of the texts (the summary's)


def baseline_waves(survey: Survey) -> list[str]:
    """The wave labels the questionnaire carries baselines for ("2020"), in order of appearance."""
    waves: list[str] = []
    for q in survey.questions:
        if q.baseline is not None and q.baseline.wave not in waves:
            waves.append(q.baseline.wave)
    return waves


def _now_counts(t: Translator, q: QuestionSummary, baseline: Baseline) -> list[tuple[str, str, int, BaselineFigure]]:
    """(key, label, count now, earlier figure) for every figure of the baseline, in display order."""
    out = []
    if q.is_choice or q.type == QuestionType.SCALE:
        options = {o.id: o for o in q.options}
        for key, fig in baseline.options.items():
            o = options.get(key)
            label = o.label if o else key
            if q.type == QuestionType.SCALE:
                label = t.gettext("rating {value}").format(value=key)
            out.append((key, label, o.count if o else 0, fig))
        if q.is_choice:  # questionnaire order, "other" last, as in the summary
            order = {o.id: i for i, o in enumerate(q.options)}
            out.sort(key=lambda item: order.get(item[0], len(order)))
    for key, fig in baseline.groups.items():
        low, high = Baseline.group_bounds(key) or (0, -1)
        count = sum(c for v, c in q.distribution if low <= v <= high)
        label = (t.gettext("ratings {low}–{high}").format(low=low, high=high) if q.type == QuestionType.SCALE
                 else f"{low}–{high}")
        out.append((key, label, count, fig))
    return out


def compare(summary: Summary, survey: Survey, wave: str | None = None, filter_text: str | None = None) -> Comparison:
    """Compare a summary with the questionnaire's baselines of ``wave`` (the first wave when None)."""
    t = translator(summary.language)
    waves = baseline_waves(survey)
    wave = wave or (waves[0] if waves else "")
    questions = []
    source, base_respondents = "", None
    for q in survey.questions:
        b = q.baseline
        if b is None or b.wave != wave:
            continue
        source = source or b.source
        base_respondents = base_respondents or b.respondents
        qs = summary.question(q.id)
        figures = []
        for key, label, count, fig in _now_counts(t, qs, b):
            now = percent(count, qs.n)
            then = percent(fig.count, b.n)
            diff = None
            if qs.n:
                diff = round_half_up(round((Decimal(count) / qs.n - Decimal(fig.count) / b.n) * 100, 9))
            figures.append(
                ComparedFigure(key, label, count, qs.n, now, fig, b.n, then, diff, two_proportions(count, qs.n, fig.count, b.n))
            )
        questions.append(ComparedQuestion(q.id, qs.number, qs.title, qs.type, qs.n, b, figures))
    return Comparison(wave, source, summary.base, base_respondents, filter_text, questions, summary.language)


# Text -----------------------------------------------------------------------------------


def fmt_p(t: Translator, p: float | None) -> str:
    """A p-value: "p = 0,023" / "p = 0.023", "p < 0,001", "p = 1"."""
    if p is None:
        return "p —"
    if p < 0.001:
        return f"p < {t.decimal(0.001, 3)}"
    if p >= 0.9995:
        return "p = 1"
    return f"p = {t.decimal(p, 3)}"


def _diff(t: Translator, value: Decimal | None) -> str:
    if value is None:
        return "—"
    sign = "+" if value > 0 else "−" if value < 0 else "±"
    return t.gettext("{sign}{value} pp").format(sign=sign, value=fmt_decimal(t, abs(value)))


def _figure_line(t: Translator, f: ComparedFigure, wave: str) -> str:
    tag = t.gettext(PROVENANCE_TAGS[f.base.provenance])
    then = t.gettext("{share} ({count} of {n}; in the article {printed})").format(
        share=fmt_percent(t, f.base_percent), count=f.base.count, n=f.base_n, printed=escape(f.printed)) + f" [{tag}]"
    if f.base.provenance == "assumed":
        then = f"<i>{then}</i>"
    test = f"{fmt_p(t, f.test.p_value)} ({t.gettext(TEST_NAMES[f.test.name])})" if f.test else "p —"
    star = " ✱" if f.significant else ""
    now = t.gettext("now {share} ({count} of {n})").format(share=fmt_percent(t, f.percent), count=f.count, n=f.n)
    return f"{escape(f.label)}: {now} · {wave}: {then} · Δ {_diff(t, f.diff_pp)} · {test}{star}"


def render_comparison(comparison: Comparison) -> list[str]:
    """The comparison as Telegram HTML messages, each within the length limit."""
    c = comparison
    t = translator(c.language)
    wave = escape(c.wave)
    head = ["<b>" + t.gettext("Comparison with the wave {wave}").format(wave=wave) + "</b>"]
    if c.filter:
        head.append(t.gettext("Filter: {filter}").format(filter=escape(c.filter)))
    if c.base_respondents:
        head.append(t.gettext("Respondents now: {count} against {base} in {wave}.").format(
            count=c.respondents, base=c.base_respondents, wave=wave))
    else:
        head.append(t.gettext("Respondents now: {count}.").format(count=c.respondents))
    if c.source:
        head.append(t.gettext("Source of {wave}: {source}").format(wave=wave, source=escape(c.source)))
    head += [
        t.gettext("The share now is of those who answered the question (in multiple choice — of those who answered, "
                  "the sum is over 100%)."),
        t.gettext("Test of equal shares: a two-proportion z-test (pooled estimate), with an expected frequency "
                  "below 5 — Fisher's exact test; ✱ — the difference is significant (p &lt; {alpha}).").format(
            alpha=t.decimal(0.05, 2)),
        f"<i>{t.gettext(PROVENANCE_NOTE)}</i>",
    ]
    if not c.questions:
        head.append(t.gettext("The questionnaire has no questions with figures of the wave {wave}.").format(wave=wave))
    blocks = [head]
    for q in c.questions:
        n_tag = t.gettext(PROVENANCE_TAGS[q.baseline.n_provenance])
        lines = [f"<b>{q.number}. {escape(q.title)}</b>",
                 t.gettext("Now n = {n} · {wave}: n = {base_n}").format(n=q.n, wave=wave, base_n=q.baseline.n)
                 + f" [{n_tag}]"]
        if not q.n:
            lines.append(t.gettext("No answers yet: nothing to compare with."))
        lines += [_figure_line(t, f, wave) for f in q.figures]
        blocks.append(lines)
    return pack_blocks(blocks)


# JSON -----------------------------------------------------------------------------------


def figure_json(f: ComparedFigure) -> dict[str, Any]:
    """The ``baseline`` object an option gains with ``--compare``."""
    return {
        "percent": float(f.base.percent),
        "printed": f.printed,
        "count": f.base.count,
        "n": f.base_n,
        "computed_percent": as_float(f.base_percent),
        "provenance": f.base.provenance,
        "diff_pp": as_float(f.diff_pp),
        "p_value": None if f.test is None else f.test.p_value,
        "test": None if f.test is None else f.test.name,
    }


def add_to_json(data: dict[str, Any], comparison: Comparison) -> dict[str, Any]:
    """Add ``baseline`` to the options (and scale ranges) of the summary JSON; returns ``data``."""
    by_question = {q.id: q for q in comparison.questions}
    data["baseline"] = {
        "wave": comparison.wave,
        "source": comparison.source,
        "respondents": comparison.base_respondents,
    }
    for qj in data["questions"]:
        cq = by_question.get(qj["id"])
        if cq is None:
            continue
        qj["baseline_n"] = cq.baseline.n
        qj["baseline_n_provenance"] = cq.baseline.n_provenance
        figures = {f.key: f for f in cq.figures}
        for option in qj["options"]:
            f = figures.get(option["id"])
            if f is not None and option["id"] in cq.baseline.options:
                option["baseline"] = figure_json(f)
        for bucket in qj.get("buckets", []):
            for key in cq.baseline.groups:
                low, high = Baseline.group_bounds(key) or (0, -1)
                if bucket["label"] in (f"{low}–{high}", f"{low}-{high}"):
                    bucket["baseline"] = figure_json(figures[key])
    return data
