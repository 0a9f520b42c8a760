"""Loading a questionnaire file and reporting every problem in it at once."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from survey.model import CHOICE_TYPES, OTHER, Condition, Option, Question, QuestionType, Survey, SurveyMeta

BUNDLED_SURVEY = "accounting.yaml"


class SurveyError(Exception):
    """A questionnaire file that cannot be used; ``problems`` lists every finding."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: {len(problems)} problem(s)\n" + "\n".join(f"  - {p}" for p in problems))


def bundled_survey_path() -> Path:
    """Path of the questionnaire shipped with the package (the accounting study)."""
    return Path(str(resources.files("survey") / "data" / BUNDLED_SURVEY))


def load_survey(path: str | Path | None = None) -> Survey:
    """Read and validate a questionnaire file (the bundled study when path is None)."""
    path = Path(path) if path else bundled_survey_path()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SurveyError(str(path), [f"cannot read the file: {exc.strerror or exc}"]) from None
    except yaml.YAMLError as exc:
        raise SurveyError(str(path), [f"not valid YAML: {exc}"]) from None
    return parse_survey(raw, source=str(path))


def parse_survey(raw: Any, source: str = "<survey>") -> Survey:
    """Validate an already-parsed questionnaire mapping."""
    if not isinstance(raw, dict):
        raise SurveyError(source, ["the file must be a mapping with 'survey' and 'questions'"])
    try:
        survey = Survey.model_validate(raw)
    except ValidationError as exc:
        # Cross-checks still run on whatever parts are valid, so one pass reports everything.
        problems = _describe(exc, raw)
        problems += [p for p in _cross_checks_lenient(raw) if p not in problems]
        raise SurveyError(source, problems) from None
    problems = _cross_checks(survey)
    if problems:
        raise SurveyError(source, problems)
    return survey


def _question_label(raw: Any, index: int) -> str:
    try:
        qid = raw["questions"][index].get("id")
    except (KeyError, IndexError, TypeError, AttributeError):
        qid = None
    return f"question {qid}" if qid else f"question #{index + 1}"


def _describe(exc: ValidationError, raw: Any) -> list[str]:
    out = []
    for err in exc.errors():
        loc = list(err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        where = "survey"
        if loc[:1] == ["questions"] and len(loc) > 1 and isinstance(loc[1], int):
            where = _question_label(raw, loc[1])
            loc = loc[2:]
        elif loc[:1] == ["survey"]:
            loc = loc[1:]
        field = ".".join(str(p) for p in loc)
        out.append(f"{where}: {field}: {msg}" if field else f"{where}: {msg}")
    return out


def _cross_checks(survey: Survey) -> list[str]:
    problems: list[str] = []
    if not survey.questions:
        problems.append("survey: questions: the questionnaire has no questions")
    seen: dict[str, int] = {}
    for i, q in enumerate(survey.questions):
        where = f"question {q.id}"
        if q.id in seen:
            problems.append(f"{where}: id: duplicate question id (also question #{seen[q.id] + 1})")
        if q.number is not None and q.number != i + 1:
            problems.append(f"{where}: number: is {q.number} but the question stands at position {i + 1}")
        for cond in q.show_if:
            if cond.question not in seen:
                problems.append(f"{where}: show_if.question: '{cond.question}' is not an earlier question")
                continue
            ref = survey.questions[seen[cond.question]]
            if ref.type is None:  # its type is invalid and already reported
                continue
            for field in ("any_of", "none_of"):
                values = getattr(cond, field)
                if values is None:
                    continue
                if ref.type not in CHOICE_TYPES:
                    problems.append(f"{where}: show_if.{field}: question {ref.id} is not a choice question")
                    continue
                valid = set(ref.option_ids) | ({OTHER} if ref.other_allowed else set())
                for v in values:
                    if v not in valid:
                        problems.append(f"{where}: show_if.{field}: '{v}' is not an option of {ref.id}")
            if (cond.min is not None or cond.max is not None) and ref.type not in (
                QuestionType.SCALE,
                QuestionType.NUMBER,
            ):
                problems.append(f"{where}: show_if.min/max: question {ref.id} is not a scale or number")
        problems += baseline_problems(q)
        seen.setdefault(q.id, i)
    total = survey.survey.questions_total
    if total is not None and total != len(survey.questions):
        problems.append(f"survey: questions_total: says {total} but the file has {len(survey.questions)}")
    return problems


def _lenient_question(raw: Any, index: int) -> Question:
    """A question for the cross-checks even when it failed validation (only the fields they read)."""
    try:
        return Question.model_validate(raw)
    except ValidationError:
        pass
    raw = raw if isinstance(raw, dict) else {}
    qid = raw.get("id")
    number = raw.get("number")
    try:
        qtype = QuestionType(raw.get("type"))
    except ValueError:
        qtype = None
    options = raw.get("options")
    options = [Option.model_construct(id=o["id"]) for o in options if isinstance(o, dict) and isinstance(o.get("id"), str)] if isinstance(options, list) else []
    show_if = raw.get("show_if")
    show_if = [show_if] if isinstance(show_if, dict) else show_if if isinstance(show_if, list) else []
    conditions = []
    for c in show_if:
        try:
            conditions.append(Condition.model_validate(c))
        except ValidationError:
            pass  # already reported
    return Question.model_construct(
        id=qid.strip() if isinstance(qid, str) and qid.strip() else f"#{index + 1}",
        number=number if isinstance(number, int) and not isinstance(number, bool) else None,
        type=qtype,
        options=options,
        other_allowed=raw.get("other_allowed") is True,
        show_if=conditions,
    )


def _cross_checks_lenient(raw: dict) -> list[str]:
    """The cross-checks on a file that failed validation; nothing when 'questions' is not a list."""
    questions = raw.get("questions")
    if not isinstance(questions, list):
        return []
    meta = raw.get("survey")
    total = meta.get("questions_total") if isinstance(meta, dict) else None
    survey = Survey.model_construct(
        survey=SurveyMeta.model_construct(
            questions_total=total if isinstance(total, int) and not isinstance(total, bool) else None
        ),
        questions=[_lenient_question(q, i) for i, q in enumerate(questions)],
    )
    return _cross_checks(survey)


def _consistent(count: int, n: int, percent: Decimal, decimals: int) -> bool:
    """Whether count/n, rounded half up to the printed decimals, is the printed percentage."""
    step = Decimal(1).scaleb(-min(decimals, 1))
    return (Decimal(count) * 100 / Decimal(n)).quantize(step, rounding=ROUND_HALF_UP) == percent.quantize(step)


def baseline_problems(q: Question) -> list[str]:
    """Problems of a question's ``baseline``: unknown ids, counts above n or not matching their percentage."""
    b = getattr(q, "baseline", None)
    if b is None or q.type is None:
        return []
    where = f"question {q.id}: baseline"
    problems: list[str] = []
    if q.type == QuestionType.TEXT:
        return [f"{where}: text questions cannot carry baseline figures"]
    if q.type in CHOICE_TYPES:
        valid = set(q.option_ids) | ({OTHER} if q.other_allowed else set())
        for key in b.options:
            if key not in valid:
                problems.append(f"{where}.options.{key}: not an option of {q.id}")
    elif q.type == QuestionType.SCALE:
        lo, hi = (q.scale.min, q.scale.max) if q.scale else (None, None)
        for key in b.options:
            if not key.lstrip("-").isdigit() or lo is None or not lo <= int(key) <= hi:
                problems.append(f"{where}.options.{key}: not a point of the scale {lo}-{hi}")
    elif b.options:
        problems.append(f"{where}.options: a number question compares ranges (baseline.groups), not options")
    if b.groups and q.type not in (QuestionType.SCALE, QuestionType.NUMBER):
        problems.append(f"{where}.groups: only scale and number questions have value ranges")
    for key in b.groups:
        bounds = b.group_bounds(key)
        if bounds is None or bounds[1] < bounds[0]:
            problems.append(f"{where}.groups.{key}: not a range like '4-7'")
    for part, figures in (("options", b.options), ("groups", b.groups)):
        for key, f in figures.items():
            if f.count > b.n:
                problems.append(f"{where}.{part}.{key}: count {f.count} is more than n = {b.n}")
            elif not _consistent(f.count, b.n, f.percent, f.decimals):
                problems.append(f"{where}.{part}.{key}: count {f.count} of n = {b.n} does not give {f.percent}%")
    if q.type == QuestionType.SINGLE or q.type == QuestionType.SCALE:
        total = sum(f.count for f in b.options.values())
        if total > b.n:
            problems.append(f"{where}.options: the counts add up to {total}, more than n = {b.n}")
    if b.respondents is not None and b.n > b.respondents:
        problems.append(f"{where}.n: {b.n} is more than the wave's {b.respondents} respondents")
    return problems
