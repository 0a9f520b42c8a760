"""Loading a questionnaire file and reporting every problem in it at once, each with its line."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from importlib import resources
from pathlib import Path
from typing import Any, assert_never

import yaml
from pydantic import ValidationError

from survey import languages, piping
from survey.diagnostics import (
    Finding,
    Location,
    Positions,
    describe_errors,
    did_you_mean,
    language_problems,
    language_warnings,
    line_of,
    load_yaml,
)
from survey.model import (
    CHOICE_TYPES,
    NUMERIC_TYPES,
    OTHER,
    Condition,
    Option,
    OptionsFrom,
    Question,
    QuestionType,
    Survey,
    SurveyMeta,
)
from survey.xlsform import is_xlsform, read_xlsform

BUNDLED_SURVEY = "accounting.yaml"


class SurveyError(Exception):
    """A questionnaire file that cannot be used; ``problems`` lists every finding ("line N: question x: …")."""

    def __init__(self, source: str, problems: list[str | Finding]):
        self.source = source
        findings = [p if isinstance(p, Finding) else Finding(None, p) for p in problems]
        # In the order of the file; problems without a line keep their place at the end.
        self.findings = sorted(findings, key=Finding.sort_key)
        self.problems = [str(f) for f in self.findings]
        super().__init__(f"{source}: {len(problems)} problem(s)\n" + "\n".join(f"  - {p}" for p in self.problems))

    def lines(self) -> list[str]:
        """Every problem as ``FILE:LINE: text``, the form editors and terminals make clickable."""
        return [f.located(self.source) for f in self.findings]


def bundled_survey_path() -> Path:
    """Path of the questionnaire shipped with the package (the accounting study)."""
    return Path(str(resources.files("survey") / "data" / BUNDLED_SURVEY))


def load_survey(path: str | Path | None = None) -> Survey:
    """Read and validate a questionnaire file (the bundled study when path is None)."""
    return check_survey_file(path)[0]


def check_survey_file(path: str | Path | None = None, strict: bool = False) -> tuple[Survey, list[str]]:
    """A questionnaire file read and validated, and its warnings (missing translations) as ``FILE:LINE: text``
    lines; with ``strict`` the warnings are problems too (SurveyError)."""
    path = Path(path) if path else bundled_survey_path()
    notes: list[Finding] = []
    if is_xlsform(path):
        raw, positions, problems, notes = read_xlsform(path)
        if problems:
            # The mapped questionnaire is checked too, so one pass lists everything.
            try:
                parse_survey(raw, source=str(path), positions=positions)
            except SurveyError as exc:
                problems += [f for f in exc.findings if raw]
            raise SurveyError(str(path), list(problems))
    else:
        raw, positions = _read_yaml(path)
    survey = parse_survey(raw, source=str(path), positions=positions)
    warnings = language_warnings(raw, positions)
    if strict and warnings:
        raise SurveyError(str(path), list(warnings))
    shown = [Finding(w.line, f"warning: {w.text}") for w in warnings] + [Finding(n.line, f"note: {n.text}") for n in notes]
    return survey, SurveyError(str(path), shown).lines()


def _read_yaml(path: Path) -> tuple[Any, Positions]:
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
    return raw, positions


def parse_survey(raw: Any, source: str = "<survey>", positions: Positions | None = None) -> Survey:
    """Validate an already-parsed questionnaire mapping (``positions``: line of each YAML path, if known)."""
    positions = positions or {}
    if not isinstance(raw, dict):
        raise SurveyError(source, [Finding(positions.get(()), "the file must be a mapping with 'survey' and 'questions'")])
    language_errors = language_problems(raw, positions)
    try:
        survey = Survey.model_validate(raw)
    except ValidationError as exc:
        # Cross-checks still run on whatever parts are valid, so one pass reports everything.
        problems = language_errors + describe_errors(exc, raw, positions)
        problems += [p for p in _cross_checks_lenient(raw, positions) if p not in problems]
        raise SurveyError(source, problems + _translation_problems(raw, positions, problems)) from None
    problems = language_errors + _cross_checks(survey, positions)
    problems += _translation_problems(raw, positions, problems)
    if problems:
        raise SurveyError(source, problems)
    return survey


def _translation_problems(raw: dict, positions: Positions, known: list[Finding]) -> list[Finding]:
    """Each translation checked by the same rules as the default texts (lengths, empty texts), its problems
    marked with the language; the problems every language shares are said once."""
    out: list[Finding] = []
    for code in languages.languages_of(raw)[1:]:
        try:
            Survey.model_validate(languages.resolve(raw, code))
        except ValidationError as exc:
            out += [Finding(f.line, f"{f.text} (in {code})") for f in describe_errors(exc, raw, positions)
                    if f not in known]
    return out


def _cross_checks(survey: Survey, positions: Positions | None = None) -> list[Finding]:
    positions = positions or {}
    problems: list[Finding] = []

    def at(*path: Any) -> Location | None:
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
        for path, cond in _condition_leaves(q.show_if):
            if cond.question not in seen:
                problems.append(Finding(at("questions", i, *path, "question"), f"{where}: show_if.question: '{cond.question}' is not an earlier question"))
                continue
            ref = survey.questions[seen[cond.question]]
            if ref.type is None:  # its type is invalid and already reported
                continue
            for field in ("any_of", "none_of"):
                values = getattr(cond, field)
                if values is None:
                    continue
                if ref.type not in CHOICE_TYPES:
                    problems.append(Finding(at("questions", i, *path, field), f"{where}: show_if.{field}: question {ref.id} is not a choice question"))
                    continue
                valid = set(ref.option_ids) | ({OTHER} if ref.other_allowed else set())
                for k, v in enumerate(values):
                    if v not in valid:
                        hint = did_you_mean(v, sorted(valid))
                        problems.append(Finding(at("questions", i, *path, field, k), f"{where}: show_if.{field}: '{v}' is not an option of {ref.id}{hint}"))
            if (cond.min is not None or cond.max is not None) and ref.type not in NUMERIC_TYPES:
                field = "min" if cond.min is not None else "max"
                problems.append(Finding(at("questions", i, *path, field), f"{where}: show_if.min/max: question {ref.id} is not a scale or number"))
            if (cond.selected_min is not None or cond.selected_max is not None) and ref.type not in CHOICE_TYPES:
                field = "selected_min" if cond.selected_min is not None else "selected_max"
                problems.append(Finding(at("questions", i, *path, field), f"{where}: show_if.{field}: question {ref.id} is not a choice question"))
        problems += [Finding(at("questions", i, "baseline"), p) for p in baseline_problems(q)]
        problems += _reference_problems(survey, q, i, seen, at)
        seen.setdefault(q.id, i)
    problems += _shuffled_part_problems(survey, at)
    total = survey.survey.questions_total
    if total is not None and total != len(survey.questions):
        problems.append(Finding(at("survey", "questions_total"), f"survey: questions_total: says {total} but the file has {len(survey.questions)}"))
    return problems


def _reference_problems(survey: Survey, q: Question, i: int, seen: dict[str, int], at: Any) -> list[Finding]:
    """Piping (``{q03}``) and carry-forward (``options_from``) must name earlier questions of the right type."""
    where = f"question {q.id}"
    known = {other.id for other in survey.questions}
    problems: list[Finding] = []
    texts = [(("text",), getattr(q, "text", None)), (("hint",), getattr(q, "hint", None))]
    if getattr(q, "options_from", None) is None:
        texts += [(("options", k, "text"), getattr(o, "text", None)) for k, o in enumerate(q.options)]
    for path, text in texts:
        if not isinstance(text, str):
            continue
        label = ".".join(f"#{p + 1}" if isinstance(p, int) else p for p in path).replace(".#", " #")
        for ref, _ in piping.pipes(text):
            if ref in seen:
                continue
            why = "is a later question" if ref in known and ref != q.id else (
                "is this question itself" if ref == q.id else f"is not a question{did_you_mean(ref, sorted(known))}")
            problems.append(Finding(at("questions", i, *path), f"{where}: {label}: '{{{ref}}}' {why}; "
                                    "only earlier answers can be shown"))
    rule = getattr(q, "options_from", None)
    if rule is not None:
        line = at("questions", i, "options_from")
        if rule.question not in seen:
            why = "a later question" if rule.question in known else \
                f"not a question{did_you_mean(rule.question, sorted(known))}"
            problems.append(Finding(line, f"{where}: options_from: '{rule.question}' is {why}; options come from an "
                                    "earlier multiple-choice question"))
        else:
            source = survey.questions[seen[rule.question]]
            if source.type != QuestionType.MULTIPLE:
                kind = source.type.value if source.type is not None else "of an invalid type"
                problems.append(Finding(line, f"{where}: options_from: question {source.id} is {kind}, "
                                        "not multiple_choice"))
            elif q.options and [o.id for o in q.options] != source.option_ids:
                problems.append(Finding(at("questions", i, "options"), f"{where}: options: the options come from "
                                        f"{source.id} (options_from); leave options out"))
    return problems


def _shuffled_part_problems(survey: Survey, at: Any) -> list[Finding]:
    """A part asked in random order must exist, and its questions must not depend on one another."""
    parts = getattr(survey.survey, "randomize_questions", None) or []
    problems: list[Finding] = []
    index = {q.id: i for i, q in enumerate(survey.questions)}
    for k, part in enumerate(parts):
        members = [i for i, q in enumerate(survey.questions) if getattr(q, "part", None) is not None
                   and str(q.part) == str(part)]
        if not members:
            known = sorted({str(q.part) for q in survey.questions if getattr(q, "part", None) is not None})
            problems.append(Finding(at("survey", "randomize_questions", k), f"survey: randomize_questions: no question "
                                    f"is in part '{part}'{did_you_mean(str(part), known)}"))
            continue
        first, last = members[0], members[-1]
        for i, q in enumerate(survey.questions):
            inside = i in members
            for ref, path in _references_at(q):
                j = index.get(ref)
                if j is None:
                    continue  # reported above
                if inside and j >= first:
                    problems.append(Finding(at("questions", i, *path), f"question {q.id}: depends on {ref}, which "
                                            f"may be asked after it: part '{part}' is in randomize_questions"))
                elif not inside and first <= j <= last and i < last:
                    problems.append(Finding(at("questions", i, *path), f"question {q.id}: depends on {ref} of part "
                                            f"'{part}' (randomize_questions), which may be asked after it"))
    return problems


def _references_at(q: Question) -> list[tuple[str, tuple[Any, ...]]]:
    """Every earlier question a question depends on, with the path of the reference in the file."""
    out: list[tuple[str, tuple[Any, ...]]] = [(c.question, (*path, "question"))
                                              for path, c in _condition_leaves(q.show_if) if c.question is not None]
    out += [(ref, path) for path, text in piping.piped_texts(q) for ref, _ in piping.pipes(text)]
    rule = getattr(q, "options_from", None)
    if rule is not None:
        out.append((rule.question, ("options_from",)))
    return out


def _condition_leaves(conditions: list[Condition]) -> list[tuple[tuple[Any, ...], Condition]]:
    """Every test of one question in a show_if list, with its path in the file (``("show_if", 0, "any", 1)``)."""
    out: list[tuple[tuple[Any, ...], Condition]] = []

    def walk(cond: Condition, path: tuple[Any, ...]) -> None:
        if cond.question is not None:
            out.append((path, cond))
        for name, parts in (("any", cond.any), ("all", cond.all)):
            for k, part in enumerate(parts or []):
                walk(part, (*path, name, k))
        if cond.not_ is not None:
            walk(cond.not_, (*path, "not"))

    for c, cond in enumerate(conditions):
        walk(cond, ("show_if", c))
    return out


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
    source = raw.get("options_from")
    source = {"question": source} if isinstance(source, str) else source
    try:
        options_from = OptionsFrom.model_validate(source) if source is not None else None
    except ValidationError:
        options_from = None  # already reported
    text, hint, part = raw.get("text"), raw.get("hint"), raw.get("part")
    return Question.model_construct(
        id=qid.strip() if isinstance(qid, str) and qid.strip() else f"#{index + 1}",
        text=text if isinstance(text, str) else "",
        hint=hint if isinstance(hint, str) else None,
        part=part if isinstance(part, str | int) else None,
        options_from=options_from,
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
    parts = meta.get("randomize_questions") if isinstance(meta, dict) else None
    survey = Survey.model_construct(
        survey=SurveyMeta.model_construct(
            questions_total=total if isinstance(total, int) and not isinstance(total, bool) else None,
            randomize_questions=[p for p in parts if isinstance(p, str | int)] if isinstance(parts, list) else [],
        ),
        questions=[_lenient_question(q, i) for i, q in enumerate(questions)],
    )
    return _cross_checks(survey, positions)


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
    match q.type:  # what a baseline's options are keyed by; a type without a case fails loudly (assert_never)
        case QuestionType.TEXT:
            return [f"{where}: text questions cannot carry baseline figures"]
        case QuestionType.SINGLE | QuestionType.MULTIPLE:
            valid = set(q.option_ids) | ({OTHER} if q.other_allowed else set())
            for key in b.options:
                if key not in valid:
                    problems.append(f"{where}.options.{key}: not an option of {q.id}")
        case QuestionType.SCALE:
            lo, hi = (q.scale.min, q.scale.max) if q.scale else (None, None)
            for key in b.options:
                if not key.lstrip("-").isdigit() or lo is None or not lo <= int(key) <= hi:
                    problems.append(f"{where}.options.{key}: not a point of the scale {lo}-{hi}")
        case QuestionType.NUMBER:
            if b.options:
                problems.append(f"{where}.options: a number question compares ranges (baseline.groups), not options")
        case _ as unreachable:
            assert_never(unreachable)
    if b.groups and q.type not in NUMERIC_TYPES:
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
