"""HTML texts of a summary for Telegram (parse_mode HTML), in the summary's language (``Summary.language``).

Every function returns a list of messages, each within Telegram's limit (analytics.messages:
``MESSAGE_LIMIT`` UTF-16 units of HTML). Messages are split between questions, then between lines of a
long question, and a typed answer longer than a message between pieces of it; every user-supplied string
(typed answers, and questionnaire texts too) is escaped.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from html import escape
from typing import assert_never

from analytics.messages import pack_blocks
from analytics.summary import (
    REMOVED_LABEL,
    Bucket,
    OptionCount,
    QuestionSummary,
    Summary,
    percent,
    wilson_interval,
)
from survey.i18n import N_, Translator, translator
from survey.model import QuestionType
from survey.text import clip

PREVIEW_TEXTS = 3  # typed "other" answers shown under the "other" line of the summary
PREVIEW_CHARS = 200  # a preview text longer than this is cut
DETAIL_TEXTS = 20
WILSON_BELOW = 30  # show confidence intervals when fewer respondents answered
MULTIPLE_NOTE = N_("Several options could be chosen: percentages are of those who answered, adding up to more than 100%")
GROUP_NAMES = {"low": N_("Low ratings"), "middle": N_("Middle ratings"), "high": N_("High ratings")}


# Formatting -----------------------------------------------------------------------------


def fmt_decimal(t: Translator, value: Decimal | float | int | None, places: int = 1) -> str:
    """A number with the language's decimal sign, rounded half up (6.25 -> "6,3" / "6.3"); "—" for None."""
    return t.decimal(value, places)


def fmt_percent(t: Translator, value: Decimal | None) -> str:
    """A percentage like "58,1%" / "58.1%" ("—" when undefined)."""
    return t.percent(value)


def fmt_median(t: Translator, value: Decimal | None) -> str:
    """A median: whole numbers without decimals ("6"), halves with the decimal sign ("6,5")."""
    if value is None:
        return "—"
    return str(int(value)) if value == value.to_integral_value() else t.decimal(value)


def fmt_duration(t: Translator, seconds: float | None) -> str:
    """A duration like "4 min 12 s" / "4 мин 12 с" or "1 h 5 min"."""
    if seconds is None:
        return "—"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return t.gettext("{hours} h {minutes} min").format(hours=hours, minutes=minutes)
    if minutes:
        return t.gettext("{minutes} min {seconds} s").format(minutes=minutes, seconds=secs)
    return t.gettext("{seconds} s").format(seconds=secs)


def fmt_time(value: datetime | None) -> str:
    """A UTC timestamp like "01.03.2026 10:01 UTC"."""
    return "—" if value is None else value.strftime("%d.%m.%Y %H:%M UTC")


# Blocks ---------------------------------------------------------------------------------


def _header(t: Translator, summary: Summary) -> list[str]:
    lines = [
        "<b>" + t.gettext("Summary: {title}").format(title=escape(summary.title)) + "</b>",
        t.gettext("Started: {count}").format(count=summary.started),
        t.gettext("Completed: {count}").format(count=summary.completed),
        t.gettext("In progress: {count}").format(count=summary.in_progress),
        t.gettext("Completion rate: {share}").format(share=fmt_percent(t, summary.completion_rate)),
        t.gettext("Median completion time: {duration}").format(
            duration=fmt_duration(t, summary.median_completion_seconds)),
        t.gettext("First answer: {when}").format(when=fmt_time(summary.first_answer_at)),
        t.gettext("Last answer: {when}").format(when=fmt_time(summary.last_answer_at)),
    ]
    if summary.filter:
        lines.insert(1, t.gettext("Filter: {filter} — respondents: {count}").format(filter=escape(summary.filter),
                                                                                  count=summary.started))
    if summary.reminders.reminded:
        lines.append(reminders_line(summary))
    if summary.consent is not None:
        lines.append(t.gettext("Consent: given {agreed}, declined {declined}").format(
            agreed=summary.consent.agreed, declined=summary.consent.declined))
    if summary.completed_only:
        lines.append("<i>" + t.gettext("Only completed questionnaires are counted ({count}).").format(
            count=summary.completed) + "</i>")
    else:
        lines.append("<i>" + t.gettext("Unfinished questionnaires are counted in the questions they reached.") + "</i>")
    return lines


def _option_line(t: Translator, o: OptionCount, n: int, wilson: bool) -> str:
    share = fmt_percent(t, o.percent)
    interval = wilson_interval(o.count, n) if wilson else None
    if interval is not None:
        low, high = interval
        share += "; " + t.gettext("95% CI {low}–{high}%").format(low=fmt_decimal(t, low), high=fmt_decimal(t, high))
    return f"{escape(o.label)} — {o.count} ({share})"


def _range_line(t: Translator, b: Bucket, name: str | None = None) -> str:
    label = escape(name + f" ({b.label})" if name else b.label)
    return f"{label} — {b.count} ({fmt_percent(t, b.percent)})"


def _texts_lines(t: Translator, texts: list[str], shown: int) -> list[str]:
    """The first ``shown`` typed answers, clipped, and how many more there are."""
    # Each on one line: newlines inside a preview would break the layout.
    lines = [f"  «{escape(clip(' '.join(text.split()), PREVIEW_CHARS))}»" for text in texts[:shown]]
    if len(texts) > shown:
        lines.append("  " + t.gettext("… and {count} more").format(count=len(texts) - shown))
    return lines


def _question_lines(q: QuestionSummary, *, t: Translator, detail: bool = False) -> list[str]:
    lines = [f"<b>{q.number}. {escape(q.title)}</b>"]
    if detail and q.text != q.title:
        lines.append(f"<i>{escape(q.text)}</i>")
    lines.append(t.gettext("n = {n} (skipped: {skipped}, not reached: {not_reached})").format(
        n=q.n, skipped=q.skipped, not_reached=q.not_reached))
    if q.options_from is not None:
        which = t.gettext("the chosen ones") if q.options_take == "selected" else t.gettext("the ones not chosen")
        lines.append("<i>" + t.gettext("Options — {which} in {source}; those who had nothing to be offered were not "
                                       "asked: they are among «not reached», not among those who skipped.").format(
            which=which, source=escape(q.options_from)) + "</i>")
    if not q.n:
        lines.append(t.gettext("No answers yet."))
        return lines
    wilson = detail and q.n < WILSON_BELOW
    shown = DETAIL_TEXTS if detail else PREVIEW_TEXTS
    # The text rendering's one dispatch on the question type: a type without a case fails loudly (assert_never).
    match q.type:
        case QuestionType.SINGLE | QuestionType.MULTIPLE:
            for o in q.options:
                lines.append(_option_line(t, o, q.n, wilson))
                if o.is_other and q.other_texts:
                    lines.extend(_texts_lines(t, q.other_texts, shown))
            if q.is_multiple:
                lines.append(f"<i>{t.gettext(MULTIPLE_NOTE)}</i>")
        case QuestionType.SCALE:
            lines.append(t.gettext("Mean {mean} · median {median}").format(mean=fmt_decimal(t, q.mean),
                                                                            median=fmt_median(t, q.median)))
            if q.min_label or q.max_label:
                lines.append(
                    f"<i>{q.scale_min} — {escape(q.min_label or '')}, {q.scale_max} — {escape(q.max_label or '')}</i>"
                )
            lines.extend(_option_line(t, o, q.n, wilson) for o in q.options)
            lines.extend(_range_line(t, g, t.gettext(GROUP_NAMES[g.key]) if g.key in GROUP_NAMES else None)
                         for g in q.groups)
        case QuestionType.NUMBER:
            lines.append(t.gettext("Mean {mean} · median {median}").format(mean=fmt_decimal(t, q.mean),
                                                                            median=fmt_median(t, q.median)))
            if q.buckets:
                lines.extend(_range_line(t, b) for b in q.buckets)
            elif q.distribution:
                lines.append(t.gettext("Minimum {low} · maximum {high}").format(low=q.distribution[0][0],
                                                                                 high=q.distribution[-1][0]))
        case QuestionType.TEXT:
            lines.extend(_texts_lines(t, q.other_texts, shown))
        case _ as unreachable:
            assert_never(unreachable)
    return lines


# Public ---------------------------------------------------------------------------------


def render_summary(summary: Summary) -> list[str]:
    """The whole summary as Telegram HTML messages (header, then every question)."""
    t = translator(summary.language)
    blocks = [_header(t, summary)] + [_question_lines(q, t=t) for q in summary.questions]
    if summary.removed_questions:
        blocks.append([f"<b>{t.gettext(REMOVED_LABEL)}</b>"]
                      + [f"{escape(qid)} — n = {n}" for qid, n in summary.removed_questions])
    return pack_blocks(blocks)


def render_question(summary: Summary, number: int | str) -> list[str]:
    """One question in detail (full text, 95% Wilson intervals when n < 30)."""
    t = translator(summary.language)
    lines = _question_lines(summary.question(number), detail=True, t=t)
    if summary.filter:
        lines.insert(1, t.gettext("Filter: {filter}").format(filter=escape(summary.filter)))
    return pack_blocks([lines])


def render_other_texts(summary: Summary, question_id: str | int) -> list[str]:
    """Every typed "other" answer (or text answer) of a question, numbered, as messages."""
    t = translator(summary.language)
    q = summary.question(question_id)
    head = f"<b>{q.number}. {escape(q.title)}</b> — " + t.gettext("own answers ({count})").format(count=len(q.other_texts))
    lines = [head]
    if not q.other_texts:
        lines.append(t.gettext("No own answers."))
    for i, text in enumerate(q.other_texts, 1):
        lines.append(f"{i}. {escape(text)}")  # a text longer than a message is cut between messages
    return pack_blocks([lines])


def reminders_line(summary: Summary) -> str:
    """Reminded respondents, and of them how many came back (answered after it) and completed."""
    t, r = translator(summary.language), summary.reminders
    return t.gettext("Reminders: received {reminded}, came back {came_back} ({came_back_share}), completed {completed} "
                     "({completed_share})").format(
        reminded=r.reminded, came_back=r.came_back, came_back_share=fmt_percent(t, percent(r.came_back, r.reminded)),
        completed=r.completed, completed_share=fmt_percent(t, percent(r.completed, r.reminded)))


def render_funnel(summary: Summary) -> list[str]:
    """The question-by-question funnel: reached, answered, skipped, stopped here."""
    t = translator(summary.language)
    lines = [
        "<b>" + t.gettext("Funnel") + "</b>",
        t.gettext("Started: {count}. «Reached» = answered + skipped + stopped at the question now.").format(
            count=summary.started),
    ]
    if summary.filter:
        lines.insert(1, t.gettext("Filter: {filter}").format(filter=escape(summary.filter)))
    for step in summary.funnel:
        lines.append(f"{step.number}. {escape(step.title)} — " + t.gettext(
            "reached {reached} ({share}), answered {answered}, skipped {skipped}, stopped {dropped}").format(
            reached=step.reached, share=fmt_percent(t, percent(step.reached, summary.started)),
            answered=step.answered, skipped=step.skipped, dropped=step.dropped))
    if summary.reminders.reminded:
        lines.append(reminders_line(summary))
    return pack_blocks([lines])

