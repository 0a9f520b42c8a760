"""The pure survey flow: answer validation, skip logic, and what comes next.

``apply`` takes a respondent's progress and one action and returns the new progress
plus what changed. It knows nothing of Telegram or SQL, so every rule is unit-tested here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import assert_never

from survey import piping, randomize
from survey.model import CHOICE_TYPES, OTHER, Condition, Option, Question, QuestionType, Survey


@dataclass(frozen=True)
class Answer:
    """A stored answer: option ids for choices, a number for scales/numbers, text, or a skip."""

    option_ids: tuple[str, ...] = ()
    number: int | None = None
    text: str | None = None
    other_text: str | None = None
    skipped: bool = False
    # The option ids in the order the buttons were shown («other» last), for questions shown in random order;
    # not part of what the answer is (equal answers shown in different orders are equal).
    order: tuple[str, ...] = field(default=(), compare=False)


SKIPPED = Answer(skipped=True)


@dataclass(frozen=True)
class Progress:
    """Where a respondent is: the current question, answers so far, pending input."""

    current: str | None
    answers: dict[str, Answer] = field(default_factory=dict)
    draft: tuple[str, ...] = ()  # multiple-choice selection not yet confirmed with "Готово"
    draft_other: str | None = None
    awaiting_other: bool = False
    seed: int = 0  # the response's seed of every random order (survey.randomize)

    @property
    def finished(self) -> bool:
        return self.current is None


class Kind(StrEnum):
    """What an action led to; the bot renders each kind differently."""

    ADVANCED = "advanced"  # an answer was stored and the next question follows
    FINISHED = "finished"  # the last answer was stored
    BACK = "back"  # moved to the previous question
    REDRAW = "redraw"  # the same question with a changed selection
    ASK_OTHER = "ask_other"  # waiting for the typed "other" text
    REJECTED = "rejected"  # invalid input: nothing changed


class Reason(StrEnum):
    """Why an action was rejected."""

    NOT_A_NUMBER = "not_a_number"
    OUT_OF_RANGE = "out_of_range"
    TOO_LONG = "too_long"
    EMPTY = "empty"
    NEED_BUTTON = "need_button"
    TOO_FEW = "too_few"
    TOO_MANY = "too_many"
    REQUIRED = "required"
    FIRST_QUESTION = "first_question"
    UNKNOWN_OPTION = "unknown_option"
    FINISHED = "finished"


# Actions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choose:
    """Pick an option (single choice) or a scale value (its number as text)."""

    value: str


@dataclass(frozen=True)
class Toggle:
    """Select or unselect an option of a multiple-choice question."""

    option_id: str


@dataclass(frozen=True)
class ChooseOther:
    """Pick the 'other' answer; its text is typed next."""


@dataclass(frozen=True)
class Done:
    """Confirm a multiple-choice selection."""


@dataclass(frozen=True)
class Keep:
    """Keep the current answer of a question seen again after "Назад"."""


@dataclass(frozen=True)
class Skip:
    """Skip the current question."""


@dataclass(frozen=True)
class Back:
    """Go to the previous question that was shown."""


@dataclass(frozen=True)
class TypeText:
    """A typed message: a number, a free-text answer or the 'other' text."""

    text: str


Action = Choose | Toggle | ChooseOther | Done | Keep | Skip | Back | TypeText


@dataclass(frozen=True)
class Outcome:
    """The result of one action: the new progress and the answers that changed (None = deleted)."""

    kind: Kind
    progress: Progress
    changed: dict[str, Answer | None] = field(default_factory=dict)
    reason: Reason | None = None
    limit: int | None = None  # the bound behind TOO_MANY / TOO_FEW / OUT_OF_RANGE / TOO_LONG


# Skip logic -----------------------------------------------------------------------------


def condition_holds(cond: Condition, answers: dict[str, Answer]) -> bool:
    """Whether one show_if condition is met by the answers so far."""
    if cond.any is not None:
        return any(condition_holds(c, answers) for c in cond.any)
    if cond.all is not None:
        return all(condition_holds(c, answers) for c in cond.all)
    if cond.not_ is not None:
        return not condition_holds(cond.not_, answers)
    stored = answers.get(cond.question) if cond.question is not None else None
    ans = stored if stored is not None and not stored.skipped else None  # an answer given (not skipped)
    if cond.answered is not None and (ans is not None) != cond.answered:
        return False
    if cond.any_of is not None and not (ans is not None and set(ans.option_ids) & set(cond.any_of)):
        return False
    if cond.none_of is not None and ans is not None and set(ans.option_ids) & set(cond.none_of):
        return False
    selected = len(ans.option_ids) if ans is not None else 0
    if cond.selected_min is not None and selected < cond.selected_min:
        return False
    if cond.selected_max is not None and selected > cond.selected_max:
        return False
    if cond.min is not None or cond.max is not None:
        if ans is None or ans.number is None:
            return False
        if cond.min is not None and ans.number < cond.min:
            return False
        if cond.max is not None and ans.number > cond.max:
            return False
    return True


def is_visible(question: Question, answers: dict[str, Answer]) -> bool:
    """Whether a question is shown, given the answers so far (hidden by show_if, or nothing to carry forward)."""
    return all(condition_holds(c, answers) for c in question.show_if) and not piping.not_applicable(question, answers)


def _index(order: list[Question], question_id: str) -> int:
    for i, q in enumerate(order):
        if q.id == question_id:
            return i
    raise KeyError(question_id)


def next_question(survey: Survey, answers: dict[str, Answer], after: str | None, seed: int = 0) -> str | None:
    """The first shown question after ``after`` (the first one when None) in the respondent's order; None at the end."""
    order = randomize.question_order(survey, seed)
    start = 0 if after is None else _index(order, after) + 1
    for q in order[start:]:
        if is_visible(q, answers):
            return q.id
    return None


def previous_question(survey: Survey, answers: dict[str, Answer], before: str, seed: int = 0) -> str | None:
    """The last shown question before ``before`` in the respondent's order; None on the first."""
    order = randomize.question_order(survey, seed)
    for q in reversed(order[: _index(order, before)]):
        if is_visible(q, answers):
            return q.id
    return None


def shown_number(survey: Survey, question_id: str, seed: int = 0) -> int:
    """The question's number as this respondent sees it: its place in their order when its part is shuffled."""
    if survey.survey.randomize_questions and question_id in randomize.shuffled_questions(survey):
        return _index(randomize.question_order(survey, seed), question_id) + 1
    return survey.number(question_id)


def shown_options(survey: Survey, q: Question, progress: Progress) -> list[Option]:
    """The options of a choice question as this respondent sees them: their order, only those carried forward."""
    options = randomize.option_order(survey, q, progress.seed)
    ids = piping.offered(q, progress.answers)
    return options if ids is None else [o for o in options if o.id in ids]


def start(survey: Survey, seed: int = 0) -> Progress:
    """Progress of a respondent who has just begun (``seed``: their random orders, see survey.randomize)."""
    return Progress(current=next_question(survey, {}, None, seed), seed=seed)


# Answer validation ----------------------------------------------------------------------


def parse_number(question: Question, text: str) -> int | Reason:
    """A typed whole number within the question's bounds, or why it is not one."""
    cleaned = text.strip().replace(" ", "").replace("\u00a0", "")
    if not cleaned or len(cleaned) > 12 or not cleaned.lstrip("-").isdecimal() or cleaned.count("-") > 1:
        return Reason.NOT_A_NUMBER
    if cleaned.startswith("-") and len(cleaned) == 1:
        return Reason.NOT_A_NUMBER
    value = int(cleaned)
    if (question.min is not None and value < question.min) or (question.max is not None and value > question.max):
        return Reason.OUT_OF_RANGE
    return value


def clean_text(text: str, limit: int) -> str | Reason:
    """Typed text trimmed, or why it cannot be stored."""
    cleaned = text.strip()
    if not cleaned:
        return Reason.EMPTY
    if len(cleaned) > limit:
        return Reason.TOO_LONG
    return cleaned


def other_text_limit(question: Question) -> int:
    """How long an 'other' text may be."""
    return min(question.max_length, 500)


def max_selected(question: Question, answers: dict[str, Answer] | None = None) -> int:
    """How many options a multiple-choice answer may have (of those offered, given ``answers``)."""
    ids = piping.offered(question, answers or {})
    total = (len(question.options) if ids is None else len(ids)) + (1 if question.other_allowed else 0)
    return min(question.max_selected, total) if question.max_selected else total


def _offers(question: Question, answers: dict[str, Answer], option_id: str) -> bool:
    """Whether the question offers this option now (it exists, and is carried forward if it must be)."""
    if question.option(option_id) is None:
        return False
    ids = piping.offered(question, answers)
    return ids is None or option_id in ids


# Transitions ----------------------------------------------------------------------------


def _arrive(survey: Survey, progress: Progress, qid: str | None) -> Progress:
    """Progress placed on a question, with a multiple-choice draft taken from its answer."""
    draft: tuple[str, ...] = ()
    draft_other = None
    if qid is not None and survey.get(qid).type == QuestionType.MULTIPLE:
        ans = progress.answers.get(qid)
        if ans and not ans.skipped:
            draft, draft_other = ans.option_ids, ans.other_text
    return replace(progress, current=qid, draft=draft, draft_other=draft_other, awaiting_other=False)


def _record(survey: Survey, progress: Progress, answer: Answer) -> Outcome:
    """Store the answer of the current question, drop answers hidden by it, and move on."""
    qid = progress.current
    assert qid is not None
    q = survey.get(qid)
    if randomize.randomized(survey, q):
        answer = replace(answer, order=tuple(o.id for o in shown_options(survey, q, progress))
                         + ((OTHER,) if q.other_allowed else ()))
    answers = dict(progress.answers)
    before = answers.get(qid)
    answers[qid] = answer
    changed: dict[str, Answer | None] = {qid: answer}
    # A later answer hidden now is dropped; a carry-forward answer whose offer changed with this answer is cleared
    # so the respondent is asked it again; and so on down the line. (Piped texts just show the new answer.)
    moved = set() if answer == before else {qid}
    for later in survey.questions[survey.index(qid) + 1 :]:
        if later.id not in answers:
            continue
        source = later.options_from.question if later.options_from is not None else None
        stale = source in moved and piping.offered(later, progress.answers) != piping.offered(later, answers)
        if stale or not is_visible(later, answers):
            del answers[later.id]
            changed[later.id] = None
            moved.add(later.id)
    nxt = next_question(survey, answers, qid, progress.seed)
    progress = _arrive(survey, replace(progress, answers=answers), nxt)
    return Outcome(Kind.FINISHED if nxt is None else Kind.ADVANCED, progress, changed)


def _reject(progress: Progress, reason: Reason, limit: int | None = None) -> Outcome:
    return Outcome(Kind.REJECTED, progress, reason=reason, limit=limit)


def apply(survey: Survey, progress: Progress, action: Action) -> Outcome:
    """Apply one respondent action to their progress (pure; nothing is stored here)."""
    if progress.current is None:
        return _reject(progress, Reason.FINISHED)
    q = survey.get(progress.current)
    match action:
        case Back():
            prev = previous_question(survey, progress.answers, q.id, progress.seed)
            if prev is None:
                return _reject(progress, Reason.FIRST_QUESTION)
            return Outcome(Kind.BACK, _arrive(survey, progress, prev))
        case Skip():
            if q.required:
                return _reject(progress, Reason.REQUIRED)
            return _record(survey, progress, SKIPPED)
        case Keep():
            ans = progress.answers.get(q.id)
            if ans is None:
                return _reject(progress, Reason.NEED_BUTTON)
            return _record(survey, progress, ans)
        case Choose():
            return _answer(survey, progress, q, action)
        case Toggle(option_id=option_id):
            return _toggle(progress, q, option_id)
        case ChooseOther():
            if q.type not in CHOICE_TYPES or not q.other_allowed:
                return _reject(progress, Reason.UNKNOWN_OPTION)
            if q.type == QuestionType.MULTIPLE and OTHER in progress.draft:
                draft = tuple(o for o in progress.draft if o != OTHER)
                return Outcome(Kind.REDRAW, replace(progress, draft=draft, draft_other=None, awaiting_other=False))
            return Outcome(Kind.ASK_OTHER, replace(progress, awaiting_other=True))
        case Done():
            return _done(survey, progress, q)
        case TypeText(text=text):
            return _typed(survey, progress, q, text)
    raise TypeError(f"unknown action {action!r}")


_SCALE_VALUE = re.compile(r"-?[0-9]{1,4}")


def _answer(survey: Survey, progress: Progress, q: Question, action: Choose | TypeText) -> Outcome:
    """A button value (Choose) or a typed message (TypeText) as the answer to the current question.

    The flow's one dispatch on the question type: a type without a case here fails loudly (assert_never).
    """
    value = action.value if isinstance(action, Choose) else None
    text = action.text if isinstance(action, TypeText) else None
    wrong_way = _reject(progress, Reason.NEED_BUTTON if value is None else Reason.UNKNOWN_OPTION)
    match q.type:
        case QuestionType.SINGLE:
            if value is None:
                return wrong_way
            if not _offers(q, progress.answers, value):
                return _reject(progress, Reason.UNKNOWN_OPTION)
            return _record(survey, progress, Answer(option_ids=(value,)))
        case QuestionType.MULTIPLE:
            return wrong_way  # options are toggled (Toggle) and confirmed (Done), see _toggle and _done
        case QuestionType.SCALE:
            if value is None:
                return wrong_way
            assert q.scale is not None
            # Buttons send str(int); anything else (e.g. '²', which isdigit() but int() rejects) is no option.
            if not _SCALE_VALUE.fullmatch(value) or not q.scale.min <= int(value) <= q.scale.max:
                return _reject(progress, Reason.UNKNOWN_OPTION)
            return _record(survey, progress, Answer(number=int(value)))
        case QuestionType.NUMBER:
            if text is None:
                return wrong_way
            number = parse_number(q, text)
            if isinstance(number, Reason):
                return _reject(progress, number)
            return _record(survey, progress, Answer(number=number))
        case QuestionType.TEXT:
            if text is None:
                return wrong_way
            cleaned = clean_text(text, q.max_length)
            if isinstance(cleaned, Reason):
                return _reject(progress, cleaned, q.max_length)
            return _record(survey, progress, Answer(text=cleaned))
        case _ as unreachable:
            assert_never(unreachable)


def _toggle(progress: Progress, q: Question, option_id: str) -> Outcome:
    if q.type != QuestionType.MULTIPLE or not _offers(q, progress.answers, option_id):
        return _reject(progress, Reason.UNKNOWN_OPTION)
    if option_id in progress.draft:
        draft = tuple(o for o in progress.draft if o != option_id)
    else:
        most = max_selected(q, progress.answers)
        if len(progress.draft) >= most:
            return _reject(progress, Reason.TOO_MANY, most)
        draft = progress.draft + (option_id,)
    return Outcome(Kind.REDRAW, replace(progress, draft=draft, awaiting_other=False))


def _done(survey: Survey, progress: Progress, q: Question) -> Outcome:
    if q.type != QuestionType.MULTIPLE:
        return _reject(progress, Reason.UNKNOWN_OPTION)
    least = min(q.min_selected or 1, max_selected(q, progress.answers))  # fewer may be carried forward
    if len(progress.draft) < least:
        return _reject(progress, Reason.TOO_FEW, least)
    order = q.option_ids + [OTHER]
    chosen = tuple(sorted(progress.draft, key=order.index))
    other = progress.draft_other if OTHER in chosen else None
    return _record(survey, progress, Answer(option_ids=chosen, other_text=other))


def _typed(survey: Survey, progress: Progress, q: Question, text: str) -> Outcome:
    if progress.awaiting_other:
        limit = other_text_limit(q)
        cleaned = clean_text(text, limit)
        if isinstance(cleaned, Reason):
            return _reject(progress, cleaned, limit)
        if q.type == QuestionType.MULTIPLE:
            most = max_selected(q, progress.answers)
            if OTHER not in progress.draft and len(progress.draft) >= most:
                return _reject(progress, Reason.TOO_MANY, most)
            draft = progress.draft if OTHER in progress.draft else progress.draft + (OTHER,)
            return Outcome(Kind.REDRAW, replace(progress, draft=draft, draft_other=cleaned, awaiting_other=False))
        return _record(survey, progress, Answer(option_ids=(OTHER,), other_text=cleaned))
    return _answer(survey, progress, q, TypeText(text))


def relocate(survey: Survey, progress: Progress) -> Progress:
    """Progress made valid for an edited questionnaire (pure; the same object when nothing needs it).

    A current question that no longer exists is replaced by the first shown question still
    unanswered (or, when all are answered, the last shown one, whose «Оставить ответ» finishes);
    a pending selection keeps only options that still exist. Stored answers are never touched.
    """
    if progress.current is None:
        return progress
    if progress.current not in {q.id for q in survey.questions}:
        order = randomize.question_order(survey, progress.seed)
        shown = [q.id for q in order if is_visible(q, progress.answers)]
        target = next((qid for qid in shown if qid not in progress.answers), shown[-1] if shown else None)
        if target is None:  # every question is hidden: nothing to ask
            return replace(progress, current=None, draft=(), draft_other=None, awaiting_other=False)
        return _arrive(survey, progress, target)
    q = survey.get(progress.current)
    valid = set(q.option_ids) | ({OTHER} if q.other_allowed else set())
    draft = tuple(o for o in progress.draft if o in valid) if q.type == QuestionType.MULTIPLE else ()
    awaiting = progress.awaiting_other and q.other_allowed
    draft_other = progress.draft_other if OTHER in draft else None
    if (draft, awaiting, draft_other) == (progress.draft, progress.awaiting_other, progress.draft_other):
        return progress
    return replace(progress, draft=draft, draft_other=draft_other, awaiting_other=awaiting)
