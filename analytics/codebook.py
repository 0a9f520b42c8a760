"""How the exports code the answers, and the codebook that says so beside every export.

* single choice: the options are numbered 1..k in questionnaire order; "other" is ``OTHER_CODE``
  (97; k + 1 when a question has 97 options or more), so adding an option at the end never moves it;
* multiple choice: one 0/1 column per option (``<qid>__<option>``, ``<qid>__other_selected``);
  empty when the question was skipped or never reached, so 0 always means "answered, did not pick";
* scales and numbers: the value itself; text: the text;
* times: ISO 8601 in ``TIMEZONE`` (default Europe/Moscow) with the offset, e.g. 2026-03-01T13:00:01+03:00;
* ``duration_seconds``: completed_at − started_at of a completed response (empty for partial ones);
* ``last_question``: the question a partial response stands at (empty for completed ones);
* ``survey_version``: the questionnaire version the response was given under;
* ``<qid>_order`` (questions whose options are shown in random order, survey.randomize): the option ids in
  the order the respondent saw them, comma-joined, «other» last; empty for answers stored before it was kept.
* after the questions: ``consent_version`` (the consent text agreed to), ``<qid>__seconds`` (from the question's
  first showing to its final answer) and the data-quality flags ``quality_*`` (analytics.quality), all empty
  for responses stored before consent and timings were kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import assert_never

from survey.model import OTHER, Question, QuestionType, Survey
from survey.randomize import randomized

OTHER_CODE = 97
DEFAULT_TIMEZONE = "Europe/Moscow"
TYPE_NAMES = {
    QuestionType.SINGLE: "один вариант",
    QuestionType.MULTIPLE: "несколько вариантов",
    QuestionType.SCALE: "шкала",
    QuestionType.NUMBER: "число",
    QuestionType.TEXT: "текст",
}
# A registry keyed by type, checked complete at import: a new type without a name stops the program at once.
_UNNAMED = set(QuestionType) - set(TYPE_NAMES)
if _UNNAMED:
    raise ImportError(f"analytics.codebook.TYPE_NAMES has no name for {sorted(_UNNAMED)}")
CODEBOOK_COLUMNS = ["variable", "question", "label", "type", "code", "value_label"]


def other_code(q: Question) -> int:
    """The numeric code of "other" in a single-choice question."""
    return OTHER_CODE if len(q.options) < OTHER_CODE else len(q.options) + 1


def option_codes(q: Question) -> dict[str, int]:
    """Option id -> numeric code of a single-choice question (1..k in questionnaire order; "other" apart)."""
    codes = {o.id: i for i, o in enumerate(q.options, 1)}
    if q.other_allowed:
        codes[OTHER] = other_code(q)
    return codes


def _option_labels(survey: Survey, q: Question) -> dict[int, str]:
    """Numeric code -> label of a single-choice question."""
    return {code: q.option_label(oid, survey.other_label(q)) for oid, code in option_codes(q).items()}


def _scale_labels(q: Question) -> dict[int, str]:
    """The end labels of a scale, keyed by their points."""
    labels: dict[int, str] = {}
    if q.scale is not None and q.scale.min_label:
        labels[q.scale.min] = q.scale.min_label
    if q.scale is not None and q.scale.max_label:
        labels[q.scale.max] = q.scale.max_label
    return labels


class VariableKind(StrEnum):
    """What one column of the coded export holds."""

    SINGLE = "single"  # the code of one option
    FLAG = "flag"  # 0/1: an option of a multiple choice selected or not
    NUMBER = "number"
    TEXT = "text"
    TIME = "time"
    ID = "id"


def kind_name(kind: VariableKind) -> str:
    """How the codebook names a column's kind."""
    match kind:
        case VariableKind.SINGLE:
            return "один вариант (код)"
        case VariableKind.FLAG:
            return "0/1"
        case VariableKind.NUMBER | VariableKind.ID:
            return "число"
        case VariableKind.TEXT:
            return "текст"
        case VariableKind.TIME:
            return "время"
        case _:
            assert_never(kind)


@dataclass(frozen=True)
class Variable:
    """One column of the coded export: its name, what it holds, and its value labels."""

    name: str
    question: int | None  # the question's number, None for response-level columns
    label: str
    kind: VariableKind
    values: dict[int, str]


def base_variables(tz_name: str) -> list[Variable]:
    """The response-level columns that open every export."""
    return [
        Variable("respondent", None, "Респондент (Telegram id или ключ-псевдоним при ANONYMOUS=true)", VariableKind.TEXT, {}),
        Variable("response_id", None, "Номер анкеты", VariableKind.ID, {}),
        Variable("status", None, "Статус: completed — завершена, in_progress — в процессе", VariableKind.TEXT, {}),
        Variable("started_at", None, f"Начало (ISO 8601, часовой пояс {tz_name})", VariableKind.TIME, {}),
        Variable("completed_at", None, f"Завершение (ISO 8601, часовой пояс {tz_name})", VariableKind.TIME, {}),
        Variable("duration_seconds", None, "Длительность заполнения, секунд (только завершённые)", VariableKind.NUMBER, {}),
        Variable("last_question", None, "Вопрос, на котором остановилась незавершённая анкета", VariableKind.TEXT, {}),
        Variable("survey_version", None, "Версия анкеты, по которой дан ответ", VariableKind.NUMBER, {}),
        Variable("source", None, "Источник (параметр ссылки ?start=)", VariableKind.TEXT, {}),
        Variable("skipped_questions", None, "Пропущенные вопросы (id через «; »)", VariableKind.TEXT, {}),
    ]


def question_variables(survey: Survey, q: Question) -> list[Variable]:
    """The columns of one question, in export order."""
    number = survey.number(q.id)
    text = f"{number}. {q.text}"
    other_label = survey.other_label(q)
    # The codebook's one dispatch on the question type (the exports' columns follow it); a type without a
    # case fails loudly (assert_never).
    match q.type:
        case QuestionType.SINGLE:
            out = [
                Variable(q.id, number, text, VariableKind.TEXT, {}),
                Variable(f"{q.id}__code", number, f"{text} (код)", VariableKind.SINGLE, _option_labels(survey, q)),
            ]
            if q.other_allowed:
                out.append(Variable(f"{q.id}__other", number, f"{text} — {other_label}: текст", VariableKind.TEXT, {}))
            return out
        case QuestionType.MULTIPLE:
            out = [Variable(q.id, number, f"{text} (выбранные варианты через «; »)", VariableKind.TEXT, {})]
            flags = {0: "не выбран", 1: "выбран"}
            for o in q.options:
                out.append(Variable(f"{q.id}__{o.id}", number, f"{text} — {o.text}", VariableKind.FLAG, flags))
            if q.other_allowed:
                out.append(Variable(f"{q.id}__other_selected", number, f"{text} — {other_label}", VariableKind.FLAG, flags))
                out.append(Variable(f"{q.id}__other", number, f"{text} — {other_label}: текст", VariableKind.TEXT, {}))
            return out
        case QuestionType.SCALE:
            return [Variable(q.id, number, text, VariableKind.NUMBER, _scale_labels(q))]
        case QuestionType.NUMBER:
            return [Variable(q.id, number, text, VariableKind.NUMBER, {})]
        case QuestionType.TEXT:
            return [Variable(q.id, number, text, VariableKind.TEXT, {})]
        case _ as unreachable:
            assert_never(unreachable)


def order_column(q: Question) -> str:
    """The column of the order a question's options were shown in (questions shown in random order)."""
    return f"{q.id}_order"


def order_variables(survey: Survey, q: Question) -> list[Variable]:
    """``<qid>_order`` for a question whose options are shown in random order (survey.randomize), else nothing."""
    if not randomized(survey, q):
        return []
    number = survey.number(q.id)
    # The words first: SPSS cuts long variable labels, and the question's text is in its own variables.
    label = f"{number}. Порядок показа вариантов (id через запятую, сверху вниз; «other» — последним): {q.text}"
    return [Variable(order_column(q), number, label, VariableKind.TEXT, {})]


YES_NO = {0: "нет", 1: "да"}


def quality_variables(survey: Survey) -> list[Variable]:
    """The columns after the questions: the consent version, the seconds per question, the quality flags."""
    out = [Variable("consent_version", None, "Версия текста согласия, с которым респондент согласился "
                    "(пусто: анкета без шага согласия или ответ дан до него)", VariableKind.TEXT, {})]
    for q in survey.questions:
        number = survey.number(q.id)
        out.append(Variable(f"{q.id}__seconds", number, f"{number}. Секунд от первого показа вопроса до окончательного "
                            "ответа (пусто: нет замера)", VariableKind.NUMBER, {}))
    return out + [
        Variable("quality_flags", None, "Флаги качества через «; » (пусто — флагов нет): speeder, fast_answers, "
                 "straightlining, duplicate_text", VariableKind.TEXT, {}),
        Variable("quality_speeder", None, "Слишком быстрое прохождение: общее время меньше доли "
                 "(QUALITY_SPEEDER_RATIO, по умолчанию 1/3) медианы завершивших (пусто: анкета не завершена)",
                 VariableKind.FLAG, YES_NO),
        Variable("quality_fast_share", None, "Доля ответов, данных быстрее 1,5 с после показа вопроса "
                 "(пусто: нет замеров)", VariableKind.NUMBER, {}),
        Variable("quality_fast_answers", None, "Много быстрых ответов: доля не меньше 0,5 при хотя бы 3 замерах "
                 "(пусто: нет замеров)", VariableKind.FLAG, YES_NO),
        Variable("quality_straightlining", None, "Одинаковая позиция на всех шкалах (не меньше 3 отвеченных; "
                 "пусто: меньше 3)", VariableKind.FLAG, YES_NO),
        Variable("quality_duplicate_text", None, "Свободный ответ совпадает с ответом другого респондента "
                 "на тот же вопрос (кроме коротких и общих слов)", VariableKind.FLAG, YES_NO),
    ]


def quality_columns(survey: Survey) -> list[str]:
    """The names of the columns after the questions (quality_variables)."""
    return [v.name for v in quality_variables(survey)]


def variables(survey: Survey, tz_name: str = DEFAULT_TIMEZONE) -> list[Variable]:
    """Every column of the coded export, in order."""
    out = base_variables(tz_name)
    for q in survey.questions:
        out += question_variables(survey, q) + order_variables(survey, q)
    return out + quality_variables(survey)


def codebook_rows(survey: Survey, tz_name: str = DEFAULT_TIMEZONE) -> list[list]:
    """The codebook as a table: a header, then one row per variable and one per coded value."""
    rows: list[list] = [CODEBOOK_COLUMNS]
    by_id = {q.id: q for q in survey.questions}
    for v in variables(survey, tz_name):
        qid = v.name.split("__", 1)[0]
        kind = kind_name(v.kind)
        q = by_id.get(qid)
        if q is not None and v.name == qid:
            kind = TYPE_NAMES[q.type]
            if q.type == QuestionType.SCALE and q.scale is not None:
                kind += f" {q.scale.min}–{q.scale.max}"
        rows.append([v.name, v.question, v.label, kind, None, None])
        for code, label in v.values.items():
            rows.append([v.name, v.question, None, None, code, label])
        if q is not None and v.kind == VariableKind.SINGLE and q.other_allowed:
            rows[-1][5] = f"{rows[-1][5]} (код «другое»: {other_code(q)}, текст в {q.id}__other)"
    rows.append([])
    rows.append(["", None, "Пустая ячейка — нет ответа: вопрос пропущен (см. skipped_questions) или не показан.",
                 None, None, None])
    rows.append(["", None, f"Время — ISO 8601 с поправкой к UTC, часовой пояс {tz_name}.", None, None, None])
    rows.append(["", None, "Коды вариантов — 1..k в порядке анкеты; «другое» — 97 (k + 1, если вариантов 97 и больше).",
                 None, None, None])
    rows.append(["", None, "Вариант, удалённый из анкеты во время опроса, сохраняет подпись (с пометкой «удалён из "
                 "анкеты») и получает код после нынешних вариантов.", None, None, None])
    rows.append(["", None, "Секунды по вопросам и флаги качества вычисляются при выгрузке из сохранённых времён показа "
                 "и ответа; у ответов, собранных до их учёта, ячейки пустые.", None, None, None])
    if any(randomized(survey, q) for q in survey.questions):
        rows.append(["", None, "Варианты вопросов со столбцом <id>_order показывались каждому респонденту в своём "
                     "случайном порядке (закреплённые — на своих местах); коды и 0/1 от порядка не зависят.",
                     None, None, None])
    return rows
