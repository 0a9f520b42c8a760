"""A questionnaire written out: as YAML (every text in every language) or as an XLSForm workbook.

``to_yaml`` and ``write_xlsform`` write what ``survey.loader.load_survey`` reads back as the same questionnaire:
ids, types, texts in each language, options, "other", conditions, bounds. What XLSForm has no column for (scale
labels, research metadata such as baselines and provenance, titles and headings, number buckets) travels in an
extra sheet named ``surveybot`` (one JSON value per row), which pyxform and form apps ignore.
"""

from __future__ import annotations

import json
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

import xlsxwriter
import yaml

from survey import languages as lang
from survey.model import OTHER, Condition, Question, QuestionType, Survey, SurveyMeta
from survey.randomize import randomized
from survey.xlsform import EXTENSION_SHEET, LANGUAGE_NAMES

# Fields an XLSForm says in its own columns; the rest of a question goes to the extension sheet.
_IN_COLUMNS = {"id", "type", "text", "hint", "options", "other_allowed", "other_label", "required", "show_if", "min",
               "max", "scale"}
_META_IN_COLUMNS = {"id", "version", "language", "languages", "intro_text", "thanks_text"}


def _dumps(survey: Survey) -> dict[str, dict[str, Any]]:
    """The questionnaire as a mapping in each of its languages (the default one without its defaults)."""
    out = {code: survey.in_language(code).model_dump(by_alias=True, exclude_none=True) for code in survey.languages}
    full = out[survey.default_language]
    raw = survey.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True)
    raw["survey"]["id"] = survey.id  # always written, even when it is a default
    for key in lang.SURVEY_TEXTS:
        # A header text left at its default in one language may not be in another: written when any differs.
        default = SurveyMeta.model_fields[key].default
        if key not in raw["survey"] and any(
                dump["survey"].get(key) != lang.BUILTIN_TEXTS.get(code, {}).get(key, default)
                for code, dump in out.items()):
            raw["survey"][key] = full["survey"][key]
    out[survey.default_language] = raw
    return out


def _get(root: Any, path: tuple[Any, ...]) -> Any:
    node = root
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def multilingual(survey: Survey) -> dict[str, Any]:
    """The questionnaire as a file holds it: every text a mapping ``{code: text}`` when it differs by language."""
    dumps = _dumps(survey)
    raw = dumps[survey.default_language]
    for field in lang.text_fields(raw):
        values = {code: _get(dumps[code], field.path) for code in survey.languages}
        values = {code: text for code, text in values.items() if isinstance(text, str)}
        if len(set(values.values())) > 1:
            node = _get(raw, field.path[:-1])
            node[field.path[-1]] = values
    if len(survey.languages) == 1:
        raw["survey"].pop("languages", None)
    return raw


class _Dumper(yaml.SafeDumper):
    pass


def _decimal(dumper: yaml.SafeDumper, value: Decimal) -> yaml.Node:
    text = str(value)
    return dumper.represent_scalar("tag:yaml.org,2002:float" if "." in text else "tag:yaml.org,2002:int", text)


_Dumper.add_representer(Decimal, _decimal)
_Dumper.add_multi_representer(Enum, lambda dumper, value: dumper.represent_str(str(value.value)))


def to_yaml(survey: Survey) -> str:
    """The questionnaire as a YAML questionnaire file."""
    head = "# Written by `surveybot convert`. Check it with: surveybot check-survey FILE\n"
    return head + yaml.dump(multilingual(survey), Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=110)


# XLSForm out -------------------------------------------------------------------------------------------------


def _column(base: str, code: str, many: bool) -> str:
    return f"{base}::{LANGUAGE_NAMES.get(code, code)} ({code})" if many else base


def _xpath_value(value: str) -> str:
    return "'" + value.replace("'", "") + "'"


def condition_xpath(cond: Condition, survey: Survey) -> str:
    """A show_if condition as an XLSForm ``relevant`` in the subset the reader takes back."""
    if cond.any is not None:
        return " or ".join(f"({condition_xpath(c, survey)})" for c in cond.any)
    if cond.all is not None:
        return " and ".join(f"({condition_xpath(c, survey)})" for c in cond.all)
    if cond.not_ is not None:
        return f"not({condition_xpath(cond.not_, survey)})"
    assert cond.question is not None
    ref = f"${{{cond.question}}}"
    multiple = survey.get(cond.question).type == QuestionType.MULTIPLE if cond.question in {
        q.id for q in survey.questions} else False
    parts: list[str] = []
    if cond.any_of is not None:
        tests = [f"selected({ref}, {_xpath_value(v)})" if multiple else f"{ref} = {_xpath_value(v)}" for v in cond.any_of]
        parts.append(tests[0] if len(tests) == 1 else "(" + " or ".join(tests) + ")")
    if cond.none_of is not None:
        parts += [f"not(selected({ref}, {_xpath_value(v)}))" if multiple else f"{ref} != {_xpath_value(v)}"
                  for v in cond.none_of]
    if cond.min is not None and cond.min == cond.max:
        parts.append(f"{ref} = {cond.min}")
    else:
        if cond.min is not None:
            parts.append(f"{ref} >= {cond.min}")
        if cond.max is not None:
            parts.append(f"{ref} <= {cond.max}")
    if cond.selected_min is not None:
        parts.append(f"count-selected({ref}) >= {cond.selected_min}")
    if cond.selected_max is not None:
        parts.append(f"count-selected({ref}) <= {cond.selected_max}")
    if cond.answered is not None:
        parts.append(f"{ref} != ''" if cond.answered else f"{ref} = ''")
    return " and ".join(parts)


def _extension(q: Question, raw: dict[str, Any]) -> dict[str, Any]:
    """What of a question XLSForm has no column for (texts in every language, as the file holds them)."""
    out = {k: v for k, v in raw.items() if k not in _IN_COLUMNS}
    scale = raw.get("scale") or {}
    labels = {k: scale[k] for k in lang.SCALE_TEXTS if k in scale}
    if labels:
        out["scale"] = labels
    provenance = {o["id"]: o["provenance"] for o in raw.get("options", []) if o.get("provenance")}
    if provenance:
        out["option_provenance"] = provenance
    fixed = [o["id"] for o in raw.get("options", []) if o.get("fixed")]
    if fixed:
        out["option_fixed"] = fixed  # kept in place when the options are shuffled (survey.randomize)
    return out


def write_xlsform(survey: Survey, path: Path) -> None:
    """The questionnaire as an XLSForm workbook (.xlsx) that pyxform converts to an XForm."""
    raw = multilingual(survey)
    codes = list(survey.languages)
    many = len(codes) > 1

    def texts(value: Any) -> list[Any]:
        if value is None:
            return [None] * len(codes)
        if isinstance(value, str):
            return [value] * len(codes) if many else [value]
        return [value.get(code) for code in codes]

    labels = [_column("label", c, many) for c in codes]
    hints = [_column("hint", c, many) for c in codes]
    survey_rows: list[list[Any]] = [["type", "name", *labels, *hints, "required", "relevant", "constraint",
                                     "parameters"]]
    choice_rows: list[list[Any]] = [["list_name", "name", *labels]]
    names = {q.id for q in survey.questions}

    def free(name: str) -> str:
        while name in names:
            name += "_"
        names.add(name)
        return name

    def row(kind: str, name: str, label: Any, hint: Any = None, required: bool = False, relevant: str = "",
            constraint: str = "", parameters: str = "") -> None:
        survey_rows.append([kind, name, *texts(label), *texts(hint), "yes" if required else None,
                            relevant or None, constraint or None, parameters or None])

    meta = raw["survey"]
    if meta.get("intro_text"):
        row("note", free("intro"), meta["intro_text"])
    extension: list[list[Any]] = [["key", "value"]]
    survey_extra = {k: v for k, v in meta.items() if k not in _META_IN_COLUMNS}
    for q, qraw in zip(survey.questions, raw["questions"], strict=True):
        relevant = " and ".join(f"({condition_xpath(c, survey)})" if len(q.show_if) > 1 else condition_xpath(c, survey)
                                for c in q.show_if)
        match q.type:
            case QuestionType.SINGLE | QuestionType.MULTIPLE:
                kind = "select_one" if q.type == QuestionType.SINGLE else "select_multiple"
                or_other = q.other_allowed and q.other_label is None
                row(f"{kind} {q.id}{' or_other' if or_other else ''}", q.id, qraw["text"], qraw.get("hint"),
                    q.required, relevant, parameters="randomize=true" if randomized(survey, q) else "")
                for option in qraw["options"]:
                    choice_rows.append([q.id, option["id"], *texts(option["text"])])
                if q.other_allowed and not or_other:
                    choice_rows.append([q.id, OTHER, *texts(qraw["other_label"])])
                    row("text", free(f"{q.id}_other"), qraw["other_label"], relevant=f"selected(${{{q.id}}}, 'other')")
            case QuestionType.NUMBER:
                bounds = [f". >= {q.min}" if q.min is not None else "", f". <= {q.max}" if q.max is not None else ""]
                row("integer", q.id, qraw["text"], qraw.get("hint"), q.required, relevant,
                    " and ".join(b for b in bounds if b))
            case QuestionType.SCALE:
                assert q.scale is not None
                row("range", q.id, qraw["text"], qraw.get("hint"), q.required, relevant,
                    parameters=f"start={q.scale.min} end={q.scale.max} step=1")
            case QuestionType.TEXT:
                row("text", q.id, qraw["text"], qraw.get("hint"), q.required, relevant)
            case _ as unreachable:
                raise AssertionError(unreachable)
        extra = _extension(q, qraw)
        if extra:
            extension.append([f"question:{q.id}", json.dumps(extra, ensure_ascii=False, default=str)])
    thanks = meta.get("thanks_text")
    if thanks:
        row("note", free("thanks"), thanks)
    if survey_extra:
        extension.insert(1, ["survey", json.dumps(survey_extra, ensure_ascii=False, default=str)])
    title = survey.survey.title
    settings = [["form_title", "form_id", "version", "default_language"],
                [title, survey.id, str(survey.version), LANGUAGE_NAMES.get(codes[0], codes[0]) + f" ({codes[0]})"]]
    book = xlsxwriter.Workbook(str(path))
    try:
        for name, rows in (("survey", survey_rows), ("choices", choice_rows), ("settings", settings),
                           (EXTENSION_SHEET, extension)):
            sheet = book.add_worksheet(name)
            for r, values in enumerate(rows):
                for c, value in enumerate(values):
                    if value is not None:
                        sheet.write_string(r, c, str(value))
    finally:
        book.close()
