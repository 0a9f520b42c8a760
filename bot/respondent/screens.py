"""What the respondent sees: question messages, keyboards and replies, in Russian."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from html import escape
from typing import assert_never

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import callbacks
from survey import flow, piping
from survey.field import Availability, Phase, Why
from survey.flow import Answer, Progress, Reason
from survey.model import OTHER, Option, Question, QuestionType, Survey
from survey.text import clip

BUTTON_LIMIT = 40  # longer option texts are listed in the message and abbreviated on buttons
ANSWER_LABEL_LIMIT = 120  # an answer read back in one line
BAR_CELLS = 10

BACK = "← Назад"
SKIP = "Пропустить"
KEEP = "Оставить ответ →"
DONE = "Готово"
CHECK = "✅ "


@dataclass(frozen=True)
class Screen:
    """A message to send or edit: HTML text and an optional inline keyboard."""

    text: str
    keyboard: InlineKeyboardMarkup | None = None


def progress_bar(number: int, total: int) -> str:
    """A text progress bar like ▰▰▰▱▱▱▱▱▱▱."""
    filled = round(BAR_CELLS * (number - 1) / total) if total else 0
    return "▰" * filled + "▱" * (BAR_CELLS - filled)


def _fmt_int(value: int) -> str:
    return f"{value:,}".replace(",", "\u00a0")


def _long_options(options: list[tuple[Option, str]]) -> bool:
    return any(len(text) > BUTTON_LIMIT for _, text in options)


def piped(survey: Survey, progress: Progress, text: str) -> str:
    """A question's text, hint or option text with the earlier answers piped in (plain text, escape it to show)."""
    return piping.render(text, survey, progress.answers, lambda q, a: answer_label(survey, q, a))


def shown_options(survey: Survey, q: Question, progress: Progress) -> list[tuple[Option, str]]:
    """The options on the respondent's screen, in their order (survey.randomize), with their texts piped."""
    return [(o, piped(survey, progress, o.text)) for o in flow.shown_options(survey, q, progress)]


def _button_label(index: int, text: str, numbered: bool) -> str:
    if not numbered:
        return text
    label = f"{index}. {text}"
    return clip(label, BUTTON_LIMIT)


@dataclass(frozen=True)
class _TypeView:
    """The parts of a question screen that depend on the question's type."""

    hint: str  # the default hint (the questionnaire's own hint replaces it)
    buttons: list[list[InlineKeyboardButton]]  # the answer buttons, above «Назад» / «Пропустить»
    before: list[str]  # lines above «Сейчас вопрос пропущен.»
    after: list[str]  # lines below it
    keep: bool  # «Оставить ответ →» is offered for an answer given before


def _type_view(survey: Survey, q: Question, progress: Progress, version: int,
               options: list[tuple[Option, str]], numbered: bool) -> _TypeView:
    """What a question of each type adds to its screen: bot.respondent.screens's one dispatch on the question type
    (with ``answer_label``); a type without a case here fails loudly (assert_never)."""
    current = progress.answers.get(q.id)
    given = current if current is not None and not current.skipped else None
    match q.type:
        case QuestionType.SINGLE | QuestionType.MULTIPLE:
            multiple = q.type == QuestionType.MULTIPLE
            chosen = set(progress.draft) if multiple else set(given.option_ids if given else ())
            make = callbacks.toggle if multiple else callbacks.choose
            rows = [[InlineKeyboardButton(_mark(chosen, o.id, _button_label(i, text, numbered)),
                                          callback_data=make(version, o.id))] for i, (o, text) in enumerate(options, 1)]
            if q.other_allowed:
                label = ("✍️ " if progress.awaiting_other else "") + survey.other_label(q)
                rows.append([InlineKeyboardButton(_mark(chosen, OTHER, label), callback_data=callbacks.simple(version, "x"))])
            after: list[str] = []
            if multiple:
                rows.append([InlineKeyboardButton(DONE, callback_data=callbacks.simple(version, "d"))])
                most = flow.max_selected(q, progress.answers)
                total = len(options) + (1 if q.other_allowed else 0)
                limit = f" (не больше {most})" if most < total else ""
                hint = f"Можно выбрать несколько вариантов{limit}, затем нажмите «{DONE}»."
                if OTHER in progress.draft and progress.draft_other:
                    after = ["", f"Ваш вариант: <i>{escape(progress.draft_other)}</i>"]
            else:
                hint = "Выберите один вариант."
                if given and OTHER in given.option_ids and given.other_text:
                    after = ["", f"Ваш вариант: <i>{escape(given.other_text)}</i>"]
            return _TypeView(hint, rows, [], after, keep=not multiple)
        case QuestionType.SCALE:
            assert q.scale is not None  # the model requires it for scales
            chosen = {str(given.number)} if given and given.number is not None else set()
            values = [str(v) for v in range(q.scale.min, q.scale.max + 1)]
            per_row = 5 if len(values) > 6 else len(values)
            rows = [[InlineKeyboardButton(_mark(chosen, v, v), callback_data=callbacks.choose(version, v))
                     for v in values[start : start + per_row]] for start in range(0, len(values), per_row)]
            ends = []
            if q.scale.min_label:
                ends.append(f"{q.scale.min} — {escape(q.scale.min_label)}")
            if q.scale.max_label:
                ends.append(f"{q.scale.max} — {escape(q.scale.max_label)}")
            return _TypeView("Выберите оценку на кнопках.", rows, ["", ", ".join(ends)] if ends else [], [], keep=True)
        case QuestionType.NUMBER:
            lo = _fmt_int(q.min) if q.min is not None else None
            hi = _fmt_int(q.max) if q.max is not None else None
            bounds = f" от {lo} до {hi}" if lo and hi else (f" от {lo}" if lo else (f" до {hi}" if hi else ""))
            return _TypeView(f"Напишите целое число{bounds} в ответном сообщении.", [],
                             _current_line(survey, q, current), [], keep=True)
        case QuestionType.TEXT:
            return _TypeView(f"Напишите ответ одним сообщением (до {q.max_length} символов).", [],
                             _current_line(survey, q, current), [], keep=True)
        case _ as unreachable:
            assert_never(unreachable)


def _mark(chosen: set[str], key: str, label: str) -> str:
    return (CHECK + label) if key in chosen else label


def _current_line(survey: Survey, q: Question, current: Answer | None) -> list[str]:
    """The answer given before, for questions answered by a message (they have no button to tick)."""
    return [] if current is None else ["", f"Текущий ответ: <i>{escape(answer_label(survey, q, current))}</i>"]


def answer_label(survey: Survey, q: Question, answer: Answer | None) -> str:
    """The answer in words, for the edited question message and the final summary."""
    if answer is None:
        return "—"
    if answer.skipped:
        return "пропущен"
    match q.type:
        case QuestionType.SINGLE | QuestionType.MULTIPLE:
            parts = []
            for oid in answer.option_ids:
                if oid == OTHER:
                    parts.append(f"{survey.other_label(q)}: {answer.other_text or ''}".strip())
                else:
                    parts.append(q.option_label(oid, survey.other_label(q)))
            return "; ".join(parts)
        case QuestionType.SCALE:
            return str(answer.number)
        case QuestionType.NUMBER:
            return _fmt_int(answer.number) if answer.number is not None else "—"
        case QuestionType.TEXT:
            return answer.text or "—"
        case _ as unreachable:
            assert_never(unreachable)


def question_screen(survey: Survey, progress: Progress, version: int) -> Screen:
    """The message of the current question with its keyboard."""
    assert progress.current is not None
    q = survey.get(progress.current)
    number, total = flow.shown_number(survey, q.id, progress.seed), len(survey.questions)
    text = piped(survey, progress, q.text)
    lines = [f"<b>Вопрос {number} из {total}</b>  {progress_bar(number, total)}", "", f"<b>{escape(text)}</b>"]
    options = shown_options(survey, q, progress) if q.options else []
    numbered = _long_options(options)
    if numbered:  # the list follows the order of the buttons
        lines.append("")
        lines += [f"{i}. {escape(text)}" for i, (_, text) in enumerate(options, 1)]
    view = _type_view(survey, q, progress, version, options, numbered)
    current = progress.answers.get(q.id)
    lines += view.before
    if current is not None and current.skipped:
        lines += ["", "Сейчас вопрос пропущен."]
    lines += view.after
    if progress.awaiting_other:
        hint = f"✍️ Напишите свой вариант ответа одним сообщением (до {flow.other_text_limit(q)} символов)."
    else:
        hint = piped(survey, progress, q.hint) if q.hint else view.hint
    lines += ["", f"<i>{escape(hint)}</i>"]
    return Screen("\n".join(lines), _keyboard(survey, q, progress, version, view))


def _keyboard(survey: Survey, q: Question, progress: Progress, version: int, view: _TypeView) -> InlineKeyboardMarkup:
    rows = list(view.buttons)
    current = progress.answers.get(q.id)
    nav = []
    if flow.previous_question(survey, progress.answers, q.id, progress.seed) is not None:
        nav.append(InlineKeyboardButton(BACK, callback_data=callbacks.simple(version, "b")))
    if current is not None and not current.skipped and view.keep:
        nav.append(InlineKeyboardButton(KEEP, callback_data=callbacks.simple(version, "k")))
    if not q.required:
        nav.append(InlineKeyboardButton(SKIP, callback_data=callbacks.simple(version, "s")))
    if nav:
        rows.append(nav)
    return InlineKeyboardMarkup(rows)


def answered_line(survey: Survey, question_id: str, answer: Answer | None) -> str:
    """The answer just given, as one line on top of the next screen: «✅ 4. Заголовок — ответ»."""
    q = survey.get(question_id)
    head = f"{survey.number(q.id)}. {q.short_title}"
    if answer is None or answer.skipped:
        return f"⏭ <i>{escape(head)} — пропущен</i>"
    label = clip(answer_label(survey, q, answer), ANSWER_LABEL_LIMIT)
    return f"✅ <i>{escape(head)} — {escape(label)}</i>"


def after_answer(survey: Survey, question_id: str, answer: Answer | None, screen: Screen) -> Screen:
    """The next screen with the answer just given stated at its top (one message instead of two)."""
    return Screen(f"{answered_line(survey, question_id, answer)}\n\n{screen.text}", screen.keyboard)


def finished_screen(survey: Survey, progress: Progress) -> Screen:
    """The thank-you with a short summary of the answers."""
    lines = [f"<b>{escape(survey.survey.thanks_text)}</b>", "", "Ваши ответы:"]
    for q in survey.questions:
        if q.id in progress.answers:
            label = clip(answer_label(survey, q, progress.answers[q.id]), ANSWER_LABEL_LIMIT)
            lines.append(f"{survey.number(q.id)}. {escape(q.short_title)} — {escape(label)}")
    text = "\n".join(lines)
    return Screen(clip(text, 4000))


def intro_screen(survey: Survey) -> Screen:
    """The /start greeting with the "Начать" button."""
    text = f"<b>{escape(survey.survey.title)}</b>\n\n{escape(survey.survey.intro_text)}\n\n" \
           f"Вопросов: {len(survey.questions)}. Любой вопрос можно пропустить, вернуться назад или продолжить позже."
    kb = InlineKeyboardMarkup([[InlineKeyboardButton("Начать", callback_data=callbacks.menu(0, callbacks.MenuChoice.BEGIN))]])
    return Screen(text, kb)


def consent_screen(survey: Survey, source: str | None = None) -> Screen:
    """The greeting with the consent text and its two buttons (instead of «Начать» when the file has consent)."""
    consent = survey.survey.consent
    assert consent is not None
    text = f"<b>{escape(survey.survey.title)}</b>\n\n"
    if survey.survey.intro_text:
        text += f"{escape(survey.survey.intro_text)}\n\n"
    text += escape(consent.text)
    kb = InlineKeyboardMarkup([
        [InlineKeyboardButton(consent.agree, callback_data=callbacks.consent(True, source))],
        [InlineKeyboardButton(consent.decline, callback_data=callbacks.consent(False))],
    ])
    return Screen(text, kb)


def start_screen(survey: Survey, source: str | None = None) -> Screen:
    """What a respondent who has not begun sees: the consent step when the file has one, else the intro."""
    return intro_screen(survey) if survey.survey.consent is None else consent_screen(survey, source)


def resume_screen(survey: Survey, answered: int, version: int) -> Screen:
    """/start during a survey: continue or start over."""
    text = (
        f"У вас есть незаконченный опрос «{escape(survey.survey.title)}»: "
        f"отвечено {answered} из {len(survey.questions)}.\n\nПродолжить с того места, где вы остановились, или начать заново?"
    )
    kb = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("Продолжить", callback_data=callbacks.menu(version, callbacks.MenuChoice.CONTINUE))],
            [InlineKeyboardButton("Начать заново", callback_data=callbacks.menu(version, callbacks.MenuChoice.RESTART))],
        ]
    )
    return Screen(text, kb)


COMPLETED_TEXT = "Вы уже прошли этот опрос — ваши ответы записаны. Спасибо за участие!"
STALE_TOAST = "Этот вопрос уже неактуален"
CONSENT_ALREADY_GIVEN = "Согласие уже дано. Отозвать его и удалить ответы: /forget_me"
RELOCATED = "Анкету обновили, и этого вопроса в ней больше нет — продолжим со следующего."
HELP_TEXT = (
    "Этот бот проводит опрос «{title}».\n\n"
    "/start — начать опрос или продолжить с того места, где вы остановились\n"
    "/help — эта подсказка\n"
    "/my_data — какие данные о вас сохранены\n"
    "/forget_me — удалить ваши ответы\n\n"
    "Отвечайте кнопками под вопросом; числа и свой вариант ответа — сообщением. "
    "«← Назад» возвращает к предыдущему вопросу, «Пропустить» — пропускает вопрос."
)
UNKNOWN_COMMAND = "Такой команды нет. Наберите /help, чтобы увидеть список команд."
NOT_STARTED = "Чтобы начать опрос, нажмите /start."
EDITED = "Изменение отправленного сообщения не меняет ответ. Чтобы исправить ответ, нажмите «← Назад» под вопросом."
NEED_BUTTON = "На этот вопрос отвечают кнопками под сообщением. Вот он ещё раз:"
NON_TEXT_ONLY = "Я понимаю только текст и нажатия на кнопки — стикеры, фото, голосовые и файлы не сохраняются."
NON_TEXT = NON_TEXT_ONLY + " Вот текущий вопрос:"
GROUP_ONLY_PRIVATE = "Я работаю только в личных сообщениях: откройте чат со мной и нажмите /start."

REASONS: dict[Reason, str] = {
    Reason.NOT_A_NUMBER: "Это не похоже на целое число. Напишите только цифры, например: 25.",
    Reason.OUT_OF_RANGE: "Число вне допустимого диапазона.",
    Reason.TOO_LONG: "Слишком длинный ответ: не больше {limit} символов. Сократите, пожалуйста.",
    Reason.EMPTY: "Пустой ответ не сохраняется. Напишите текст ответа.",
    Reason.NEED_BUTTON: NEED_BUTTON,
    Reason.TOO_FEW: "Выберите хотя бы {limit} вариант(а), затем нажмите «Готово».",
    Reason.TOO_MANY: "Можно выбрать не больше {limit} вариантов.",
    Reason.REQUIRED: "Этот вопрос обязательный — пропустить его нельзя.",
    Reason.FIRST_QUESTION: "Это первый вопрос — назад некуда.",
    Reason.UNKNOWN_OPTION: STALE_TOAST,
    Reason.FINISHED: COMPLETED_TEXT,
}


def reason_text(survey: Survey, outcome: flow.Outcome) -> str:
    """A friendly explanation of a rejected action."""
    reason = outcome.reason or Reason.NEED_BUTTON
    text = REASONS[reason].format(limit=outcome.limit)
    if reason == Reason.OUT_OF_RANGE and outcome.progress.current:
        q = survey.get(outcome.progress.current)
        lo = _fmt_int(q.min) if q.min is not None else "…"
        hi = _fmt_int(q.max) if q.max is not None else "…"
        text = f"Число должно быть от {lo} до {hi}."
    return text


def fmt_moment(value: datetime | None, zone: tzinfo) -> str:
    """A moment as the respondent's clock shows it, e.g. «05.12.2026 18:00 (Europe/Moscow)»."""
    if value is None:
        return "—"
    return f"{value.astimezone(zone).strftime('%d.%m.%Y %H:%M')} ({zone})"


def availability_text(survey: Survey, av: Availability, zone: tzinfo, *, in_progress: bool = False) -> str:
    """Why the survey does not take this action now, politely and with its dates (plain text, not HTML)."""
    title = survey.survey.title
    match av.phase:
        case Phase.NOT_OPEN:
            return (f"Опрос «{title}» ещё не начался: он откроется {fmt_moment(av.opens_at, zone)}. "
                    "Загляните, пожалуйста, в это время — нажмите /start.")
        case Phase.CLOSED | Phase.OPEN if av.why == Why.QUOTA:
            kept = " Всё, что вы успели ответить, сохранено." if in_progress else ""
            return f"Опрос «{title}» завершён: мы уже собрали нужное число ответов. Спасибо за интерес!{kept}"
        case Phase.CLOSED | Phase.OPEN:  # closed by its dates or by an admin (open: past a grace period)
            when = f" {fmt_moment(av.closes_at, zone)}" if av.closes_at else ""
            kept = " Ваши ответы сохранены." if in_progress else ""
            return f"Опрос «{title}» закрыт{when}. Спасибо за интерес!{kept}"
        case _:
            assert_never(av.phase)


def grace_note(av: Availability, zone: tzinfo) -> str:
    """For a respondent in progress after the survey closed: until when they may finish."""
    return (f"Опрос закрыт для новых участников, но вы можете закончить свои ответы до "
            f"{fmt_moment(av.grace_until, zone)}.")


CLOSED_TOAST = "Опрос закрыт"
