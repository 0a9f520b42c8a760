"""Loading a questionnaire file and reporting every problem in it at once, each with its line."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from survey.diagnostics import Finding, Positions, describe_errors, did_you_mean, line_of, load_yaml
from survey.model import CHOICE_TYPES, OTHER, Condition, Option, Question, QuestionType, Survey, SurveyMeta

BUNDLED_SURVEY = "accounting.yaml"


class SurveyError(Exception):
    """A questionnaire file that cannot be used; ``problems`` lists every finding ("line N: question x: …")."""

    def __init__(self, source: str, problems: list[str | Finding]):
        self.source = source
        findings = [p if isinstance(p, Finding) else Finding(None, p) for p in problems]
        # In the order of the file; problems without a line keep their place at the end.
        self.findings = sorted(findings, key=lambda f: f.line if f.line is not None else float("inf"))
        self.problems = [str(f) for f in self.findings]
        super().__init__(f"{source}: {len(problems)} problem(s)\n" + "\n".join(f"  - {p}" for p in self.problems))

    def lines(self) -> list[str]:
        """Every problem as ``FILE:LINE: text``, the form editors and terminals make clickable."""
        return [f"{self.source}:{f.line}: {f.text}" if f.line else f"{self.source}: {f.text}" for f in self.findings]


def bundled_survey_path() -> Path:
    """Path of the questionnaire shipped with the package (the accounting study)."""
    return Path(str(resources.files("survey") / "data" / BUNDLED_SURVEY))


def load_survey(path: str | Path | None = None) -> Survey:
    """Read and validate a questionnaire file (the bundled study when path is None)."""
    path = Path(path) if path else bundled_survey_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SurveyError(str(path), [f"cannot read the file: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError:
        raise SurveyError(str(path), ["the file is not UTF-8 text"]) from None
    try:
        raw, positions = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        reason = getattr(exc, "problem", None) or str(exc)
        line = mark.line + 1 if mark is not None else None
        raise SurveyError(str(path), [Finding(line, f"not valid YAML: {reason}")]) from None
    return parse_survey(raw, source=str(path), positions=positions)


def parse_survey(raw: Any, source: str = "<survey>", positions: Positions | None = None) -> Survey:
    """Validate an already-parsed questionnaire mapping (``positions``: line of each YAML path, if known)."""
    positions = positions or {}
    if not isinstance(raw, dict):
        raise SurveyError(source, [Finding(positions.get(()), "the file must be a mapping with 'survey' and 'questions'")])
    try:
        survey = Survey.model_validate(raw)
    except ValidationError as exc:
        # Cross-checks still run on whatever parts are valid, so one pass reports everything.
        problems = describe_errors(exc, raw, positions)
        problems += [p for p in _cross_checks_lenient(raw, positions) if p not in problems]
        raise SurveyError(source, problems) from None
    problems = _cross_checks(survey, positions)
    if problems:
        raise SurveyError(source, problems)
    return survey


def _cross_checks(survey: Survey, positions: Positions | None = None) -> list[Finding]:
    positions = positions or {}
    problems: list[Finding] = []

    def at(*path: Any) -> int | None:
        return line_of(positions, path)

    if not survey.questions:
        problems.append(Finding(at("questions"), "survey: questions: the questionnaire has no questions"))
    seen: dict[str, int] = {}
    for i, q in enumerate(survey.questions):
        where = f"question {q.id}"
        if q.id in seen:
            first = at("questions", seen[q.id], "id")
            also = f"question #{seen[q.id] + 1}" + (f", line {first}" if first else "")
            problems.append(Finding(at("questions", i, "id"), f"{where}: id: duplicate question id (also {also})"))
        if q.number is not None and q.number != i + 1:
            problems.append(Finding(at("questions", i, "number"), f"{where}: number: is {q.number} but the question stands at position {i + 1}"))
        for c, cond in enumerate(q.show_if):
            if cond.question not in seen:
                problems.append(Finding(at("questions", i, "show_if", c, "question"), f"{where}: show_if.question: '{cond.question}' is not an earlier question"))
                continue
            ref = survey.questions[seen[cond.question]]
            if ref.type is None:  # its type is invalid and already reported
                continue
            for field in ("any_of", "none_of"):
                values = getattr(cond, field)
                if values is None:
                    continue
                if ref.type not in CHOICE_TYPES:
                    problems.append(Finding(at("questions", i, "show_if", c, field), f"{where}: show_if.{field}: question {ref.id} is not a choice question"))
                    continue
                valid = set(ref.option_ids) | ({OTHER} if ref.other_allowed else set())
                for k, v in enumerate(values):
                    if v not in valid:
                        hint = did_you_mean(v, sorted(valid))
                        problems.append(Finding(at("questions", i, "show_if", c, field, k), f"{where}: show_if.{field}: '{v}' is not an option of {ref.id}{hint}"))
            if (cond.min is not None or cond.max is not None) and ref.type not in (
                QuestionType.SCALE,
                QuestionType.NUMBER,
            ):
                field = "min" if cond.min is not None else "max"
                problems.append(Finding(at("questions", i, "show_if", c, field), f"{where}: show_if.min/max: question {ref.id} is not a scale or number"))
        seen.setdefault(q.id, i)
    total = survey.survey.questions_total
    if total is not None and total != len(survey.questions):
        problems.append(Finding(at("survey", "questions_total"), f"survey: questions_total: says {total} but the file has {len(survey.questions)}"))
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


def _cross_checks_lenient(raw: dict, positions: Positions | None = None) -> list[Finding]:
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
    return _cross_checks(survey, positions)
