"""Problems of a hand-written questionnaire in words a YAML author understands, each with its line.

``load_yaml`` parses the text and remembers the line of every key and list item; ``describe_errors`` turns
pydantic's validation errors into findings like ``line 14: question q06: options #2.id: 'bad id' is not
a valid id …`` (positions 1-based, "did you mean" for unknown keys and values).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, NamedTuple

import yaml
from pydantic import BaseModel, ValidationError

from survey import languages
from survey.model import CHOICE_TYPES, ID_PATTERN, Condition, Option, Question, QuestionType, Scale, Survey, SurveyMeta


class SheetRow(NamedTuple):
    """Where something is in a spreadsheet questionnaire (XLSForm): the sheet and its 1-based row."""

    sheet: str
    row: int

    def __str__(self) -> str:
        return f"{self.sheet}:{self.row}"


# A line of a YAML file, or a sheet and row of a workbook.
Location = int | SheetRow
# A path into the parsed file (keys and 0-based list indexes) -> where it is written.
Positions = dict[tuple[Any, ...], Location]
SHEET_ORDER = {"survey": 0, "choices": 1, "settings": 2}

# Which model a mapping at a path is validated by, from the last key naming it.
MODEL_AT = {"questions": Question, "survey": SurveyMeta, "options": Option, "scale": Scale, "show_if": Condition}
ID_RULE = "use lowercase latin letters, digits and _, starting with a letter (at most 32 characters)"


@dataclass(frozen=True)
class Finding:
    """One problem of a questionnaire file and the line it is on (None when unknown)."""

    line: Location | None
    text: str

    def __str__(self) -> str:
        if isinstance(self.line, SheetRow):
            return f"{self.line}: {self.text}"
        return f"line {self.line}: {self.text}" if self.line else self.text

    def sort_key(self) -> tuple[int, int, int]:
        """File order: lines, then rows sheet by sheet; findings without a place last."""
        if isinstance(self.line, SheetRow):
            return 1, SHEET_ORDER.get(self.line.sheet, 9), self.line.row
        return (0, 0, self.line) if self.line else (2, 0, 0)

    def located(self, source: str) -> str:
        """``FILE:LINE: text`` (``FILE:SHEET:ROW: text``), the form editors and terminals make clickable."""
        return f"{source}:{self.line}: {self.text}" if self.line else f"{source}: {self.text}"


# Same documents, same line marks; CSafeLoader exists only where PyYAML was built with libyaml.
SAFE_LOADER: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> tuple[Any, Positions]:
    """The parsed document and the line of every path in it (yaml.YAMLError when the text is not YAML).

    libyaml's parser when PyYAML was built with it (six times faster on the bundled study: 30 ms instead of
    200 ms of every start), the pure-Python one otherwise; both give the same nodes, marks and errors' lines."""
    loader = SAFE_LOADER(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        data = loader.construct_document(node)
    finally:
        loader.dispose()
    positions: Positions = {}
    _walk(node, (), positions)
    return data, positions


def _walk(node: yaml.Node, path: tuple[Any, ...], positions: Positions) -> None:
    positions.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                child = path + (key.value,)
                positions[child] = key.start_mark.line + 1
                _walk(value, child, positions)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, path + (i,), positions)


def line_of(positions: Positions, path: tuple[Any, ...] | list[Any]) -> Location | None:
    """The line of the deepest part of ``path`` present in the file (a list index absent there is skipped,
    as for a single ``show_if`` mapping that the model reads as a list of one)."""
    if not positions:
        return None
    cur: tuple[Any, ...] = ()
    line = positions.get(())
    for part in path:
        if cur + (part,) in positions:
            cur += (part,)
            line = positions[cur]
        elif not isinstance(part, int):
            break
    return line


def did_you_mean(value: object, choices: list[str]) -> str:
    """``; did you mean 'x'?`` for the closest choice, or nothing when none is close."""
    close = difflib.get_close_matches(str(value), choices, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _model_for(path: tuple[Any, ...]) -> type[BaseModel]:
    names = [p for p in path if isinstance(p, str)]
    return MODEL_AT.get(names[-1], Survey) if names else Survey


def _field_label(loc: list[Any]) -> str:
    """``options #2.id`` for ('options', 1, 'id'): list positions 1-based, as people count."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f" #{part + 1}"
        else:
            out += ("." if out else "") + str(part)
    return out


def _where(loc: list[Any], raw: Any) -> tuple[str, list[Any]]:
    """Who the error belongs to ("question q01", "survey") and the rest of the path."""
    if loc[:1] == ["questions"] and len(loc) > 1 and isinstance(loc[1], int):
        try:
            qid = raw["questions"][loc[1]].get("id")
        except (KeyError, IndexError, TypeError, AttributeError):
            qid = None
        label = f"question {qid}" if isinstance(qid, str) and qid else f"question #{loc[1] + 1}"
        return label, loc[2:]
    if loc[:1] == ["survey"]:
        return "survey", loc[1:]
    return "survey", loc


def _message(err: dict[str, Any], loc: list[Any]) -> str:
    """pydantic's message for one error, said for the author of the file."""
    kind, value, ctx = err["type"], err.get("input"), err.get("ctx") or {}
    field = str(loc[-1]) if loc else ""
    if kind == "extra_forbidden":
        fields = list(_model_for(tuple(loc[:-1])).model_fields)
        hint = did_you_mean(field, fields) or f"; the keys here are {', '.join(fields)}"
        return f"unknown key '{field}'{hint}"
    if kind == "missing":
        return "is required but missing"
    if kind == "string_pattern_mismatch":
        if ctx.get("pattern") == ID_PATTERN:
            return f"'{value}' is not a valid id: {ID_RULE}"
        if ctx.get("pattern") == languages.LANGUAGE_PATTERN:
            return f"'{value}' is not a language code like ru, en or pt-br"
        return f"'{value}' does not match {ctx.get('pattern')}"
    if kind in ("enum", "literal_error"):
        choices = [q.value for q in QuestionType] if field == "type" else [
            c.strip(" '") for c in str(ctx.get("expected", "")).replace(" or ", ", ").split(",") if c.strip()
        ]
        hint = did_you_mean(value, choices) if isinstance(value, str) else ""
        return f"'{value}' is not one of {', '.join(choices)}{hint}"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"expected a whole number, got {value!r}"
    if kind in ("bool_parsing", "bool_type"):
        return f"expected true or false, got {value!r}"
    if kind == "string_type":
        return f"expected text, got {value!r}"
    if kind == "list_type":
        return f"expected a list (lines starting with '- ', or [a, b]), got {value!r}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping of keys (key: value), got {value!r}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"is longer than {ctx.get('max_length')} characters"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        return err["msg"].replace("Input should be", "must be")
    return err["msg"].removeprefix("Value error, ")


def describe_errors(exc: ValidationError, raw: Any, positions: Positions) -> list[Finding]:
    """Every validation error as a Finding with its line; a question's own rule checks one finding each."""
    out: list[Finding] = []
    for err in exc.errors():
        loc = list(err["loc"])
        where, rest = _where(loc, raw)
        prefix = loc[: len(loc) - len(rest)]
        if err["type"] == "value_error" and not rest and where.startswith("question"):
            # The question's own rules: "options: …; scale: …", one finding per rule, each on its key's line.
            for part in err["msg"].removeprefix("Value error, ").split("; "):
                key = part.split(":", 1)[0].split("/")[0].split(".")[0]
                out.append(Finding(line_of(positions, prefix + [key]), f"{where}: {part}"))
            continue
        label = _field_label(rest)
        text = _message(err, loc)
        out.append(Finding(line_of(positions, loc), f"{where}: {label}: {text}" if label else f"{where}: {text}"))
    out += _hidden_rule_problems(exc, raw, positions)
    return out


def _hidden_rule_problems(exc: ValidationError, raw: Any, positions: Positions) -> list[Finding]:
    """The question rules pydantic skipped because a field of the question was already wrong.

    The wrong keys (and the keys an unknown key probably meant) are left out and the rest of the
    question is checked again, so a bad option id does not hide a scale given to a choice question.
    """
    broken: dict[int, set[str]] = {}
    for err in exc.errors():
        loc = list(err["loc"])
        if loc[:1] == ["questions"] and len(loc) > 2 and isinstance(loc[1], int):
            keys = broken.setdefault(loc[1], set())
            keys.add(str(loc[2]))
            if err["type"] == "extra_forbidden":
                keys.update(difflib.get_close_matches(str(loc[2]), list(Question.model_fields), n=1, cutoff=0.6))
    out: list[Finding] = []
    questions = raw.get("questions") if isinstance(raw, dict) else None
    for index, keys in sorted(broken.items()):
        original = questions[index] if isinstance(questions, list) and index < len(questions) else None
        if not isinstance(original, dict) or "type" in keys:
            continue  # the rules depend on the type
        kept = {k: v for k, v in original.items() if k not in keys}
        kept.setdefault("id", "placeholder")
        kept.setdefault("text", "placeholder")
        if "options" in keys and original.get("type") in {t.value for t in CHOICE_TYPES}:
            continue  # which rules hold depends on the options
        try:
            Question.model_validate(kept)
        except ValidationError as again:
            where, _ = _where(["questions", index], raw)
            for err in again.errors():
                if err["type"] != "value_error" or err["loc"]:
                    continue
                for part in err["msg"].removeprefix("Value error, ").split("; "):
                    key = part.split(":", 1)[0].split("/")[0].split(".")[0]
                    if key not in keys:
                        out.append(Finding(line_of(positions, ["questions", index, key]), f"{where}: {part}"))
    return out


def _text_label(raw: Any, path: tuple[Any, ...]) -> str:
    """``question q01: options #2.text`` for a text field's path in the file."""
    where, rest = _where(list(path), raw)
    return f"{where}: {_field_label(rest)}"


def language_problems(raw: Any, positions: Positions) -> list[Finding]:
    """Texts written in a language that is not a language code, or not one of the declared ``languages``."""
    out: list[Finding] = []
    declared = languages.declared_languages(raw)
    codes = languages.languages_of(raw)
    meta = raw.get("survey") if isinstance(raw, dict) else None
    if isinstance(meta, dict) and "language" in meta and not isinstance(meta["language"], str):
        return out  # reported by the model
    for field in languages.text_fields(raw):
        if not field.translated:
            continue
        for code in field.value:
            at = line_of(positions, (*field.path, code))
            if not isinstance(code, str) or not languages.LANGUAGE_RE.match(code):
                out.append(Finding(at, f"{_text_label(raw, field.path)}: '{code}' is not a language code like ru, "
                                       "en or pt-br"))
            elif declared is not None and code not in codes:
                hint = did_you_mean(code, codes)
                out.append(Finding(at, f"{_text_label(raw, field.path)}: '{code}' is not one of the survey's languages "
                                       f"({', '.join(codes)}){hint}"))
    return out


def language_warnings(raw: Any, positions: Positions) -> list[Finding]:
    """Every text without a translation in one of the questionnaire's languages (shown in the default instead)."""
    codes = languages.languages_of(raw)
    if len(codes) < 2:
        return []
    out: list[Finding] = []
    for field in languages.text_fields(raw):
        value = field.value
        given = {k for k, v in value.items() if isinstance(v, str) and v.strip()} if field.translated else {codes[0]}
        missing = [c for c in codes if c not in given]
        if missing:
            shown = "another language" if codes[0] in missing else f"the {codes[0]} text"
            out.append(Finding(line_of(positions, field.path), f"{_text_label(raw, field.path)}: no translation into "
                                                               f"{', '.join(missing)} ({shown} is shown instead)"))
    return out
