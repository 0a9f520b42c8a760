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
* ``language``: the language the respondent took the survey in (a code of the questionnaire's languages);
* ``<qid>_order`` (questions whose options are shown in random order, survey.randomize): the option ids in
  the order the respondent saw them, comma-joined, «other» last; empty for answers stored before it was kept.
* after the questions: ``consent_version`` (the consent text agreed to), ``<qid>__seconds`` (from the question's
  first showing to its final answer) and the data-quality flags ``quality_*`` (analytics.quality), all empty
  for responses stored before consent and timings were kept.

The codebook's words and the value labels are in the questionnaire's default language (the bot's catalogs,
survey/i18n.py), whatever language the researcher's chat is in: a data file is read beside the questionnaire.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import assert_never

from survey.i18n import N_, Translator, translator
from survey.model import OTHER, Question, QuestionType, Survey
from survey.randomize import randomized

OTHER_CODE = 97
DEFAULT_TIMEZONE = "Europe/Moscow"
TYPE_NAMES = {
    QuestionType.SINGLE: N_("single choice"),
    QuestionType.MULTIPLE: N_("multiple choice"),
    QuestionType.SCALE: N_("scale"),
    QuestionType.NUMBER: N_("number"),
    QuestionType.TEXT: N_("text"),
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


def kind_name(kind: VariableKind, t: Translator) -> str:
    """How the codebook names a column's kind."""
    match kind:
        case VariableKind.SINGLE:
            return t.gettext("single choice (code)")
        case VariableKind.FLAG:
            return "0/1"
        case VariableKind.NUMBER | VariableKind.ID:
            return t.gettext("number")
        case VariableKind.TEXT:
            return t.gettext("text")
        case VariableKind.TIME:
            return t.gettext("time")
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


def base_variables(tz_name: str, t: Translator | None = None) -> list[Variable]:
    """The response-level columns that open every export (labels in ``t``'s language)."""
    t = t or translator(None)
    return [
        Variable("respondent", None, t.gettext("Respondent (Telegram id, or a pseudonymous key with ANONYMOUS=true)"),
                 VariableKind.TEXT, {}),
        Variable("response_id", None, t.gettext("Questionnaire number"), VariableKind.ID, {}),
        Variable("status", None, t.gettext("Status: completed — completed, in_progress — in progress"),
                 VariableKind.TEXT, {}),
        Variable("started_at", None, t.gettext("Start (ISO 8601, time zone {zone})").format(zone=tz_name),
                 VariableKind.TIME, {}),
        Variable("completed_at", None, t.gettext("Completion (ISO 8601, time zone {zone})").format(zone=tz_name),
                 VariableKind.TIME, {}),
        Variable("duration_seconds", None, t.gettext("Time to complete, seconds (completed only)"),
                 VariableKind.NUMBER, {}),
        Variable("last_question", None, t.gettext("The question an unfinished questionnaire stopped at"),
                 VariableKind.TEXT, {}),
        Variable("survey_version", None, t.gettext("The questionnaire version the answer was given under"),
                 VariableKind.NUMBER, {}),
        Variable("source", None, t.gettext("Source (the link parameter ?start=)"), VariableKind.TEXT, {}),
        Variable("language", None, t.gettext("The language the survey was taken in (language code)"),
                 VariableKind.TEXT, {}),
        Variable("skipped_questions", None, t.gettext("Skipped questions (ids separated by «; »)"),
                 VariableKind.TEXT, {}),
    ]


def question_variables(survey: Survey, q: Question) -> list[Variable]:
    """The columns of one question, in export order (words in the questionnaire's default language)."""
    t = translator(survey.default_language)
    number = survey.number(q.id)
    text = f"{number}. {q.text}"
    other_label = survey.other_label(q)
    other_text = t.gettext("{question} — {other}: text").format(question=text, other=other_label)
    # The codebook's one dispatch on the question type (the exports' columns follow it); a type without a
    # case fails loudly (assert_never).
    match q.type:
        case QuestionType.SINGLE:
            out = [
                Variable(q.id, number, text, VariableKind.TEXT, {}),
                Variable(f"{q.id}__code", number, t.gettext("{question} (code)").format(question=text),
                         VariableKind.SINGLE, _option_labels(survey, q)),
            ]
            if q.other_allowed:
                out.append(Variable(f"{q.id}__other", number, other_text, VariableKind.TEXT, {}))
            return out
        case QuestionType.MULTIPLE:
            out = [Variable(q.id, number, t.gettext("{question} (chosen options separated by «; »)").format(question=text),
                            VariableKind.TEXT, {})]
            flags = {0: t.gettext("not chosen"), 1: t.gettext("chosen")}
            for o in q.options:
                out.append(Variable(f"{q.id}__{o.id}", number, f"{text} — {o.text}", VariableKind.FLAG, flags))
            if q.other_allowed:
                out.append(Variable(f"{q.id}__other_selected", number, f"{text} — {other_label}", VariableKind.FLAG, flags))
                out.append(Variable(f"{q.id}__other", number, other_text, VariableKind.TEXT, {}))
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
    t = translator(survey.default_language)
    label = f"{number}. " + t.gettext("The order the options were shown in (ids separated by commas, top to bottom; "
                                      "«other» last): {question}").format(question=q.text)
    return [Variable(order_column(q), number, label, VariableKind.TEXT, {})]


def quality_variables(survey: Survey) -> list[Variable]:
    """The columns after the questions: the consent version, the seconds per question, the quality flags (labels in
    the questionnaire's default language)."""
    t = translator(survey.default_language)
    yes_no = {0: t.gettext("no"), 1: t.gettext("yes")}
    out = [Variable("consent_version", None, t.gettext("The version of the consent text the respondent agreed to "
                                                       "(empty: a questionnaire without a consent step, or an answer "
                                                       "given before it)"), VariableKind.TEXT, {})]
    for q in survey.questions:
        number = survey.number(q.id)
        out.append(Variable(f"{q.id}__seconds", number, f"{number}. " + t.gettext(
            "Seconds from the question's first showing to the final answer (empty: not measured)"),
            VariableKind.NUMBER, {}))
    return out + [
        Variable("quality_flags", None, t.gettext("Quality flags separated by «; » (empty — no flags): speeder, "
                                                  "fast_answers, straightlining, duplicate_text"), VariableKind.TEXT, {}),
        Variable("quality_speeder", None, t.gettext("Too fast a completion: the total time is below a share "
                                                    "(QUALITY_SPEEDER_RATIO, 1/3 by default) of the median of those who "
                                                    "completed (empty: not completed)"), VariableKind.FLAG, yes_no),
        Variable("quality_fast_share", None, t.gettext("The share of answers given faster than 1.5 s after the question "
                                                       "was shown (empty: not measured)"), VariableKind.NUMBER, {}),
        Variable("quality_fast_answers", None, t.gettext("Many fast answers: a share of at least 0.5 with at least 3 "
                                                         "measurements (empty: not measured)"), VariableKind.FLAG, yes_no),
        Variable("quality_straightlining", None, t.gettext("The same position on every scale (at least 3 answered; "
                                                           "empty: fewer than 3)"), VariableKind.FLAG, yes_no),
        Variable("quality_duplicate_text", None, t.gettext("A free-text answer equals another respondent's answer to "
                                                           "the same question (short and common words aside)"),
                 VariableKind.FLAG, yes_no),
    ]


def quality_columns(survey: Survey) -> list[str]:
    """The names of the columns after the questions (quality_variables)."""
    return [v.name for v in quality_variables(survey)]


def variables(survey: Survey, tz_name: str = DEFAULT_TIMEZONE) -> list[Variable]:
    """Every column of the coded export, in order."""
    out = base_variables(tz_name, translator(survey.default_language))
    for q in survey.questions:
        out += question_variables(survey, q) + order_variables(survey, q)
    return out + quality_variables(survey)


def codebook_rows(survey: Survey, tz_name: str = DEFAULT_TIMEZONE) -> list[list]:
    """The codebook as a table: a header, then one row per variable and one per coded value."""
    t = translator(survey.default_language)
    rows: list[list] = [CODEBOOK_COLUMNS]
    by_id = {q.id: q for q in survey.questions}
    for v in variables(survey, tz_name):
        qid = v.name.split("__", 1)[0]
        kind = kind_name(v.kind, t)
        q = by_id.get(qid)
        if q is not None and v.name == qid:
            kind = t.gettext(TYPE_NAMES[q.type])
            if q.type == QuestionType.SCALE and q.scale is not None:
                kind += f" {q.scale.min}–{q.scale.max}"
        rows.append([v.name, v.question, v.label, kind, None, None])
        for code, label in v.values.items():
            rows.append([v.name, v.question, None, None, code, label])
        if q is not None and v.kind == VariableKind.SINGLE and q.other_allowed:
            rows[-1][5] = f"{rows[-1][5]} " + t.gettext("(the «other» code: {code}, the text in {column})").format(
                code=other_code(q), column=f"{q.id}__other")
    rows.append([])
    rows.append(["", None, t.gettext("An empty cell is no answer: the question was skipped (see skipped_questions) "
                                     "or not shown."), None, None, None])
    rows.append(["", None, t.gettext("Times are ISO 8601 with the offset from UTC, time zone {zone}.").format(
        zone=tz_name), None, None, None])
    rows.append(["", None, t.gettext("Option codes are 1..k in questionnaire order; «other» is 97 (k + 1 when there "
                                     "are 97 options or more)."), None, None, None])
    rows.append(["", None, t.gettext("An option removed from the questionnaire during the survey keeps its label "
                                     "(marked «removed from the questionnaire») and gets a code after the current "
                                     "options."), None, None, None])
    rows.append(["", None, t.gettext("Seconds per question and the quality flags are computed at export from the "
                                     "stored times of showing and answering; answers collected before they were kept "
                                     "have empty cells."), None, None, None])
    if any(randomized(survey, q) for q in survey.questions):
        rows.append(["", None, t.gettext("The options of questions with an <id>_order column were shown to each "
                                         "respondent in their own random order (pinned ones in their places); codes "
                                         "and 0/1 do not depend on the order."), None, None, None])
    return rows
