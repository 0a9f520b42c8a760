"""Russian HTML texts of a summary for Telegram (parse_mode HTML).

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
    round_half_up,
    wilson_interval,
)
from survey.model import QuestionType
from survey.text import clip

PREVIEW_TEXTS = 3  # typed "other" answers shown under the "other" line of the summary
PREVIEW_CHARS = 200  # a preview text longer than this is cut
DETAIL_TEXTS = 20
WILSON_BELOW = 30  # show confidence intervals when fewer respondents answered
MULTIPLE_NOTE = "Можно было выбрать несколько вариантов: проценты — от ответивших, в сумме больше 100%"
GROUP_NAMES = {"low": "Низкие оценки", "middle": "Средние оценки", "high": "Высокие оценки"}


# Formatting -----------------------------------------------------------------------------


def fmt_decimal(value: Decimal | float | int | None, places: int = 1) -> str:
    """A number with a decimal comma, rounded half up (6.25 -> "6,3"); "—" for None."""
    if value is None:
        return "—"
    return str(round_half_up(value, places)).replace(".", ",")


def fmt_percent(value: Decimal | None) -> str:
    """A percentage like "58,1%" ("—" when undefined)."""
    return "—" if value is None else f"{fmt_decimal(value)}%"


def fmt_median(value: Decimal | None) -> str:
    """A median: whole numbers without decimals ("6"), halves with a comma ("6,5")."""
    if value is None:
        return "—"
    return str(int(value)) if value == value.to_integral_value() else fmt_decimal(value)


def fmt_duration(seconds: float | None) -> str:
    """A duration like "4 мин 12 с" or "1 ч 5 мин"."""
    if seconds is None:
        return "—"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} ч {minutes} мин"
    if minutes:
        return f"{minutes} мин {secs} с"
    return f"{secs} с"


def fmt_time(value: datetime | None) -> str:
    """A UTC timestamp like "01.03.2026 10:01 UTC"."""
    return "—" if value is None else value.strftime("%d.%m.%Y %H:%M UTC")


# Blocks ---------------------------------------------------------------------------------


def _header(summary: Summary) -> list[str]:
    lines = [
        f"<b>Сводка: {escape(summary.title)}</b>",
        f"Начали: {summary.started}",
        f"Завершили: {summary.completed}",
        f"В процессе: {summary.in_progress}",
        f"Доля завершивших: {fmt_percent(summary.completion_rate)}",
        f"Медианное время прохождения: {fmt_duration(summary.median_completion_seconds)}",
        f"Первый ответ: {fmt_time(summary.first_answer_at)}",
        f"Последний ответ: {fmt_time(summary.last_answer_at)}",
    ]
    if summary.filter:
        lines.insert(1, f"Фильтр: {escape(summary.filter)} — респондентов: {summary.started}")
    if summary.reminders.reminded:
        lines.append(reminders_line(summary))
    if summary.consent is not None:
        lines.append(f"Согласие: дали {summary.consent.agreed}, отказались {summary.consent.declined}")
    if summary.completed_only:
        lines.append(f"<i>Учтены только завершённые анкеты ({summary.completed}).</i>")
    else:
        lines.append("<i>Незавершённые анкеты учтены в тех вопросах, на которые успели ответить.</i>")
    return lines


def _option_line(o: OptionCount, n: int, wilson: bool) -> str:
    share = fmt_percent(o.percent)
    interval = wilson_interval(o.count, n) if wilson else None
    if interval is not None:
        low, high = interval
        share += f"; 95% ДИ {fmt_decimal(low)}–{fmt_decimal(high)}%"
    return f"{escape(o.label)} — {o.count} ({share})"


def _range_line(b: Bucket, name: str | None = None) -> str:
    label = escape(name + f" ({b.label})" if name else b.label)
    return f"{label} — {b.count} ({fmt_percent(b.percent)})"


def _texts_lines(texts: list[str], shown: int) -> list[str]:
    """The first ``shown`` typed answers, clipped, and how many more there are."""
    # Each on one line: newlines inside a preview would break the layout.
    lines = [f"  «{escape(clip(' '.join(t.split()), PREVIEW_CHARS))}»" for t in texts[:shown]]
    if len(texts) > shown:
        lines.append(f"  … и ещё {len(texts) - shown}")
    return lines


def _question_lines(q: QuestionSummary, *, detail: bool = False) -> list[str]:
    lines = [f"<b>{q.number}. {escape(q.title)}</b>"]
    if detail and q.text != q.title:
        lines.append(f"<i>{escape(q.text)}</i>")
    lines.append(f"n = {q.n} (пропустили: {q.skipped}, не дошли: {q.not_reached})")
    if q.options_from is not None:
        which = "выбранные" if q.options_take == "selected" else "не выбранные"
        lines.append(f"<i>Варианты — {which} в {escape(q.options_from)}; кому предложить было нечего, тем вопрос "
                     "не задавался: они среди «не дошли», не среди пропустивших.</i>")
    if not q.n:
        lines.append("Ответов пока нет.")
        return lines
    wilson = detail and q.n < WILSON_BELOW
    shown = DETAIL_TEXTS if detail else PREVIEW_TEXTS
    # The text rendering's one dispatch on the question type: a type without a case fails loudly (assert_never).
    match q.type:
        case QuestionType.SINGLE | QuestionType.MULTIPLE:
            for o in q.options:
                lines.append(_option_line(o, q.n, wilson))
                if o.is_other and q.other_texts:
                    lines.extend(_texts_lines(q.other_texts, shown))
            if q.is_multiple:
                lines.append(f"<i>{MULTIPLE_NOTE}</i>")
        case QuestionType.SCALE:
            lines.append(f"Среднее {fmt_decimal(q.mean)} · медиана {fmt_median(q.median)}")
            if q.min_label or q.max_label:
                lines.append(
                    f"<i>{q.scale_min} — {escape(q.min_label or '')}, {q.scale_max} — {escape(q.max_label or '')}</i>"
                )
            lines.extend(_option_line(o, q.n, wilson) for o in q.options)
            lines.extend(_range_line(g, GROUP_NAMES.get(g.key)) for g in q.groups)
        case QuestionType.NUMBER:
            lines.append(f"Среднее {fmt_decimal(q.mean)} · медиана {fmt_median(q.median)}")
            if q.buckets:
                lines.extend(_range_line(b) for b in q.buckets)
            elif q.distribution:
                lines.append(f"Минимум {q.distribution[0][0]} · максимум {q.distribution[-1][0]}")
        case QuestionType.TEXT:
            lines.extend(_texts_lines(q.other_texts, shown))
        case _ as unreachable:
            assert_never(unreachable)
    return lines


# Public ---------------------------------------------------------------------------------


def render_summary(summary: Summary) -> list[str]:
    """The whole summary as Telegram HTML messages (header, then every question)."""
    blocks = [_header(summary)] + [_question_lines(q) for q in summary.questions]
    if summary.removed_questions:
        blocks.append([f"<b>{REMOVED_LABEL}</b>"] + [f"{escape(qid)} — n = {n}" for qid, n in summary.removed_questions])
    return pack_blocks(blocks)


def render_question(summary: Summary, number: int | str) -> list[str]:
    """One question in detail (full text, 95% Wilson intervals when n < 30)."""
    lines = _question_lines(summary.question(number), detail=True)
    if summary.filter:
        lines.insert(1, f"Фильтр: {escape(summary.filter)}")
    return pack_blocks([lines])


def render_other_texts(summary: Summary, question_id: str | int) -> list[str]:
    """Every typed "other" answer (or text answer) of a question, numbered, as messages."""
    q = summary.question(question_id)
    head = f"<b>{q.number}. {escape(q.title)}</b> — свои ответы ({len(q.other_texts)})"
    lines = [head]
    if not q.other_texts:
        lines.append("Своих ответов нет.")
    for i, text in enumerate(q.other_texts, 1):
        lines.append(f"{i}. {escape(text)}")  # a text longer than a message is cut between messages
    return pack_blocks([lines])


def reminders_line(summary: Summary) -> str:
    """Reminded respondents, and of them how many came back (answered after it) and completed."""
    r = summary.reminders
    return (f"Напоминания: получили {r.reminded}, вернулись {r.came_back} ({fmt_percent(percent(r.came_back, r.reminded))}),"
            f" завершили {r.completed} ({fmt_percent(percent(r.completed, r.reminded))})")


def render_funnel(summary: Summary) -> list[str]:
    """The question-by-question funnel: reached, answered, skipped, stopped here."""
    lines = [
        "<b>Воронка</b>",
        f"Начали: {summary.started}. «Дошли» = ответили + пропустили + остановились на вопросе сейчас.",
    ]
    if summary.filter:
        lines.insert(1, f"Фильтр: {escape(summary.filter)}")
    for step in summary.funnel:
        lines.append(
            f"{step.number}. {escape(step.title)} — дошли {step.reached} ({fmt_percent(percent(step.reached, summary.started))}),"
            f" ответили {step.answered}, пропустили {step.skipped}, остановились {step.dropped}"
        )
    if summary.reminders.reminded:
        lines.append(reminders_line(summary))
    return pack_blocks([lines])

