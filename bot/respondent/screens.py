"""What the respondent sees: question messages, keyboards and replies, in the respondent's language.

Every function takes the respondent's ``Translator`` (survey/i18n.py) for the bot's own words and the questionnaire
in that language (``Survey.in_language``) for its texts; the constants here are msgids, translated where used.
"""

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
from survey.i18n import N_, Translator
from survey.model import OTHER, Option, Question, QuestionType, Survey
from survey.text import clip

BUTTON_LIMIT = 40  # longer option texts are listed in the message and abbreviated on buttons
ANSWER_LABEL_LIMIT = 120  # an answer read back in one line
BAR_CELLS = 10

BACK = N_("← Back")
SKIP = N_("Skip")
KEEP = N_("Keep answer →")
DONE = N_("Done")
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


def piped(t: Translator, survey: Survey, progress: Progress, text: str) -> str:
    """A question's text, hint or option text with the earlier answers piped in (plain text, escape it to show)."""
    return piping.render(text, survey, progress.answers, lambda q, a: answer_label(t, survey, q, a))


def shown_options(t: Translator, survey: Survey, q: Question, progress: Progress) -> list[tuple[Option, str]]:
    """The options on the respondent's screen, in their order (survey.randomize), with their texts piped."""
    return [(o, piped(t, survey, progress, o.text)) for o in flow.shown_options(survey, q, progress)]


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


def _type_view(t: Translator, survey: Survey, q: Question, progress: Progress, version: int,
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
                rows.append([InlineKeyboardButton(t.gettext(DONE), callback_data=callbacks.simple(version, "d"))])
                most = flow.max_selected(q, progress.answers)
                total = len(options) + (1 if q.other_allowed else 0)
                hint = (t.gettext("You can choose several options (at most {most}), then press «{done}».")
                        if most < total else t.gettext("You can choose several options, then press «{done}»."))
                hint = hint.format(most=most, done=t.gettext(DONE))
                if OTHER in progress.draft and progress.draft_other:
                    after = ["", t.gettext("Your option: {text}").format(text=f"<i>{escape(progress.draft_other)}</i>")]
            else:
                hint = t.gettext("Choose one option.")
                if given and OTHER in given.option_ids and given.other_text:
                    after = ["", t.gettext("Your option: {text}").format(text=f"<i>{escape(given.other_text)}</i>")]
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
            return _TypeView(t.gettext("Choose a rating on the buttons."), rows, ["", ", ".join(ends)] if ends else [], [], keep=True)
        case QuestionType.NUMBER:
            lo = _fmt_int(q.min) if q.min is not None else None
            hi = _fmt_int(q.max) if q.max is not None else None
            if lo and hi:
                hint = t.gettext("Write a whole number from {lo} to {hi} in a reply message.")
            elif lo:
                hint = t.gettext("Write a whole number from {lo} in a reply message.")
            elif hi:
                hint = t.gettext("Write a whole number up to {hi} in a reply message.")
            else:
                hint = t.gettext("Write a whole number in a reply message.")
            return _TypeView(hint.format(lo=lo, hi=hi), [], _current_line(t, survey, q, current), [], keep=True)
        case QuestionType.TEXT:
            return _TypeView(t.gettext("Write your answer in one message (up to {limit} characters).").format(
                limit=q.max_length), [], _current_line(t, survey, q, current), [], keep=True)
        case _ as unreachable:
            assert_never(unreachable)


def _mark(chosen: set[str], key: str, label: str) -> str:
    return (CHECK + label) if key in chosen else label


def _current_line(t: Translator, survey: Survey, q: Question, current: Answer | None) -> list[str]:
    """The answer given before, for questions answered by a message (they have no button to tick)."""
    if current is None:
        return []
    return ["", t.gettext("Current answer: {answer}").format(answer=f"<i>{escape(answer_label(t, survey, q, current))}</i>")]


def answer_label(t: Translator, survey: Survey, q: Question, answer: Answer | None) -> str:
    """The answer in words, for the edited question message and the final summary."""
    if answer is None:
        return "—"
    if answer.skipped:
        return t.gettext("skipped")
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


def question_screen(t: Translator, survey: Survey, progress: Progress, version: int) -> Screen:
    """The message of the current question with its keyboard."""
    assert progress.current is not None
    q = survey.get(progress.current)
    number, total = flow.shown_number(survey, q.id, progress.seed), len(survey.questions)
    text = piped(t, survey, progress, q.text)
    head = t.gettext("Question {number} of {total}").format(number=number, total=total)
    lines = [f"<b>{head}</b>  {progress_bar(number, total)}", "", f"<b>{escape(text)}</b>"]
    options = shown_options(t, survey, q, progress) if q.options else []
    numbered = _long_options(options)
    if numbered:  # the list follows the order of the buttons
        lines.append("")
        lines += [f"{i}. {escape(text)}" for i, (_, text) in enumerate(options, 1)]
    view = _type_view(t, survey, q, progress, version, options, numbered)
    current = progress.answers.get(q.id)
    lines += view.before
    if current is not None and current.skipped:
        lines += ["", t.gettext("The question is skipped now.")]
    lines += view.after
    if progress.awaiting_other:
        hint = "✍️ " + t.gettext("Write your own answer in one message (up to {limit} characters).").format(
            limit=flow.other_text_limit(q))
    else:
        hint = piped(t, survey, progress, q.hint) if q.hint else view.hint
    lines += ["", f"<i>{escape(hint)}</i>"]
    return Screen("\n".join(lines), _keyboard(t, survey, q, progress, version, view))


def _keyboard(t: Translator, survey: Survey, q: Question, progress: Progress, version: int, view: _TypeView) -> InlineKeyboardMarkup:
    rows = list(view.buttons)
    current = progress.answers.get(q.id)
    nav = []
    if flow.previous_question(survey, progress.answers, q.id, progress.seed) is not None:
        nav.append(InlineKeyboardButton(t.gettext(BACK), callback_data=callbacks.simple(version, "b")))
    if current is not None and not current.skipped and view.keep:
        nav.append(InlineKeyboardButton(t.gettext(KEEP), callback_data=callbacks.simple(version, "k")))
    if not q.required:
        nav.append(InlineKeyboardButton(t.gettext(SKIP), callback_data=callbacks.simple(version, "s")))
    if nav:
        rows.append(nav)
    return InlineKeyboardMarkup(rows)


def answered_line(t: Translator, survey: Survey, question_id: str, answer: Answer | None) -> str:
    """The answer just given, as one line on top of the next screen: «✅ 4. Title — answer»."""
    q = survey.get(question_id)
    head = f"{survey.number(q.id)}. {q.short_title}"
    if answer is None or answer.skipped:
        skipped = t.gettext("skipped")
        return f"⏭ <i>{escape(head)} — {skipped}</i>"
    label = clip(answer_label(t, survey, q, answer), ANSWER_LABEL_LIMIT)
    return f"✅ <i>{escape(head)} — {escape(label)}</i>"


def after_answer(t: Translator, survey: Survey, question_id: str, answer: Answer | None, screen: Screen) -> Screen:
    """The next screen with the answer just given stated at its top (one message instead of two)."""
    return Screen(f"{answered_line(t, survey, question_id, answer)}\n\n{screen.text}", screen.keyboard)


def finished_screen(t: Translator, survey: Survey, progress: Progress) -> Screen:
    """The thank-you with a short summary of the answers."""
    lines = [f"<b>{escape(survey.survey.thanks_text)}</b>", "", t.gettext("Your answers:")]
    for q in survey.questions:
        if q.id in progress.answers:
            label = clip(answer_label(t, survey, q, progress.answers[q.id]), ANSWER_LABEL_LIMIT)
            lines.append(f"{survey.number(q.id)}. {escape(q.short_title)} — {escape(label)}")
    text = "\n".join(lines)
    return Screen(clip(text, 4000))


def intro_screen(t: Translator, survey: Survey) -> Screen:
    """The /start greeting with the "Start" button."""
    count = t.gettext("Questions: {count}. You can skip any question, go back or continue later.").format(
        count=len(survey.questions))
    text = f"<b>{escape(survey.survey.title)}</b>\n\n{escape(survey.survey.intro_text)}\n\n{count}"
    kb = InlineKeyboardMarkup([[InlineKeyboardButton(t.gettext("Start"), callback_data=callbacks.menu(0, callbacks.MenuChoice.BEGIN))]])
    return Screen(text, kb)


def consent_screen(survey: Survey, source: str | None = None) -> Screen:
    """The greeting with the consent text and its two buttons (instead of «Start» when the file has consent); the
    texts are the questionnaire's, in the respondent's language."""
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


def start_screen(t: Translator, survey: Survey, source: str | None = None) -> Screen:
    """What a respondent who has not begun sees: the consent step when the file has one, else the intro."""
    return intro_screen(t, survey) if survey.survey.consent is None else consent_screen(survey, source)


def resume_screen(t: Translator, survey: Survey, answered: int, version: int) -> Screen:
    """/start during a survey: continue or start over."""
    text = t.gettext("You have an unfinished survey «{title}»: {answered} of {total} answered.\n\n"
                     "Continue where you stopped, or start over?").format(
        title=escape(survey.survey.title), answered=answered, total=len(survey.questions))
    kb = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(t.gettext("Continue"), callback_data=callbacks.menu(version, callbacks.MenuChoice.CONTINUE))],
            [InlineKeyboardButton(t.gettext("Start over"), callback_data=callbacks.menu(version, callbacks.MenuChoice.RESTART))],
        ]
    )
    return Screen(text, kb)


COMPLETED_TEXT = N_("You have already taken this survey — your answers are recorded. Thank you for taking part!")
STALE_TOAST = N_("This question is no longer current")
CONSENT_ALREADY_GIVEN = N_("Consent is already given. To withdraw it and delete your answers: /forget_me")
RELOCATED = N_("The questionnaire was updated and this question is no longer in it — let us continue with the next one.")
HELP_TEXT = N_(
    "This bot runs the survey «{title}».\n\n"
    "/start — start the survey or continue where you stopped\n"
    "/help — this help\n"
    "/my_data — what is stored about you\n"
    "/forget_me — delete your answers\n\n"
    "Answer with the buttons under a question; numbers and your own answer by message. "
    "«← Back» returns to the previous question, «Skip» skips the question."
)
HELP_LANGUAGE = N_("/language — choose the language")
UNKNOWN_COMMAND = N_("There is no such command. Type /help to see the list of commands.")
NOT_STARTED = N_("To start the survey, press /start.")
EDITED = N_("Editing a sent message does not change the answer. To correct an answer, press «← Back» under the question.")
NEED_BUTTON = N_("This question is answered with the buttons under the message. Here it is again:")
NON_TEXT_ONLY = N_("I understand only text and button taps — stickers, photos, voice messages and files are not saved.")
NON_TEXT = N_("I understand only text and button taps — stickers, photos, voice messages and files are not saved. "
              "Here is the current question:")
GROUP_ONLY_PRIVATE = N_("I work only in private messages: open a chat with me and press /start.")

REASONS: dict[Reason, str] = {
    Reason.NOT_A_NUMBER: N_("This does not look like a whole number. Write digits only, for example: 25."),
    Reason.OUT_OF_RANGE: N_("The number is out of the allowed range."),
    Reason.TOO_LONG: N_("The answer is too long: at most {limit} characters. Please shorten it."),
    Reason.EMPTY: N_("An empty answer is not saved. Write the text of your answer."),
    Reason.NEED_BUTTON: NEED_BUTTON,
    Reason.TOO_FEW: N_("Choose at least {limit} option(s), then press «Done»."),
    Reason.TOO_MANY: N_("You can choose at most {limit} options."),
    Reason.REQUIRED: N_("This question is required — it cannot be skipped."),
    Reason.FIRST_QUESTION: N_("This is the first question — there is nowhere to go back."),
    Reason.UNKNOWN_OPTION: STALE_TOAST,
    Reason.FINISHED: COMPLETED_TEXT,
}


def reason_text(t: Translator, survey: Survey, outcome: flow.Outcome) -> str:
    """A friendly explanation of a rejected action."""
    reason = outcome.reason or Reason.NEED_BUTTON
    text = t.gettext(REASONS[reason]).format(limit=outcome.limit)
    if reason == Reason.OUT_OF_RANGE and outcome.progress.current:
        q = survey.get(outcome.progress.current)
        lo = _fmt_int(q.min) if q.min is not None else "…"
        hi = _fmt_int(q.max) if q.max is not None else "…"
        text = t.gettext("The number must be from {lo} to {hi}.").format(lo=lo, hi=hi)
    return text


def fmt_moment(value: datetime | None, zone: tzinfo) -> str:
    """A moment as the respondent's clock shows it, e.g. «05.12.2026 18:00 (Europe/Moscow)»."""
    if value is None:
        return "—"
    return f"{value.astimezone(zone).strftime('%d.%m.%Y %H:%M')} ({zone})"


def availability_text(t: Translator, survey: Survey, av: Availability, zone: tzinfo, *, in_progress: bool = False) -> str:
    """Why the survey does not take this action now, politely and with its dates (plain text, not HTML)."""
    title = survey.survey.title
    match av.phase:
        case Phase.NOT_OPEN:
            return t.gettext("The survey «{title}» has not started yet: it opens {when}. "
                             "Please come back then — press /start.").format(
                title=title, when=fmt_moment(av.opens_at, zone))
        case Phase.CLOSED | Phase.OPEN if av.why == Why.QUOTA:
            text = t.gettext("The survey «{title}» is over: we have collected the answers we needed. "
                             "Thank you for your interest!").format(title=title)
            return text + (" " + t.gettext("Everything you answered is saved.") if in_progress else "")
        case Phase.CLOSED | Phase.OPEN:  # closed by its dates or by an admin (open: past a grace period)
            if av.closes_at:
                text = t.gettext("The survey «{title}» closed {when}. Thank you for your interest!").format(
                    title=title, when=fmt_moment(av.closes_at, zone))
            else:
                text = t.gettext("The survey «{title}» is closed. Thank you for your interest!").format(title=title)
            return text + (" " + t.gettext("Your answers are saved.") if in_progress else "")
        case _:
            assert_never(av.phase)


def grace_note(t: Translator, av: Availability, zone: tzinfo) -> str:
    """For a respondent in progress after the survey closed: until when they may finish."""
    return t.gettext("The survey is closed to new participants, but you can finish your answers until {when}.").format(
        when=fmt_moment(av.grace_until, zone))


CLOSED_TOAST = N_("The survey is closed")
