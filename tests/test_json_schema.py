"""The JSON form of the summary has one source: the TypedDicts in analytics/summary.py.

The real output of `summary_to_json` is checked against them key by key, and the example in the
docs (docs/researchers/json.md) is checked against the real output (the same hand-made data set the page quotes).
"""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path

import pytest

from analytics.summary import (
    BucketJSON,
    FunnelStepJSON,
    OptionJSON,
    QuestionJSON,
    SummaryJSON,
    SurveyRefJSON,
    build_summary,
    summary_to_json,
)
from storage.db import create_engine
from storage.migrate import upgrade
from survey.loader import load_survey
from tests.analytics_data import insert_fixed

JSON_PAGE = Path(__file__).resolve().parents[1] / "docs" / "researchers" / "json.md"
ELLIPSIS = "…"


@pytest.fixture
async def data(db_url):
    survey = load_survey()
    engine = create_engine(db_url)
    try:
        await upgrade(engine)
        await insert_fixed(engine, survey)
        return summary_to_json(await build_summary(engine, survey))
    finally:
        await engine.dispose()


def _keys(typed: type) -> set[str]:
    return set(typing.get_type_hints(typed))


def docs_example() -> dict:
    """The JSON block under "The summary" in docs/researchers/json.md."""
    text = JSON_PAGE.read_text(encoding="utf-8")
    section = text[text.index("## The summary") :]
    block = re.search(r"```json\n(.*?)```", section, re.S)
    assert block, "docs/researchers/json.md: no ```json block under 'The summary'"
    return json.loads(block.group(1))


async def test_output_has_exactly_the_typed_keys(data):
    assert set(data) == _keys(SummaryJSON)
    assert set(data["survey"]) == _keys(SurveyRefJSON)
    assert {frozenset(q) for q in data["questions"]} == {frozenset(_keys(QuestionJSON))}
    assert {frozenset(o) for q in data["questions"] for o in q["options"]} == {frozenset(_keys(OptionJSON))}
    assert {frozenset(b) for q in data["questions"] for b in q["buckets"]} == {frozenset(_keys(BucketJSON))}
    assert {frozenset(f) for f in data["funnel"]} == {frozenset(_keys(FunnelStepJSON))}
    # The bundled study has every type but text (tests/test_question_types.py covers that one too).
    assert {q["type"] for q in data["questions"]} == {"single_choice", "multiple_choice", "scale", "number"}


def _match(example: object, real: object, path: str) -> list[str]:
    """Where the docs example differs from the real output ("…" stands for anything left out)."""
    if example == ELLIPSIS:
        return []
    if isinstance(example, dict):
        if not isinstance(real, dict):
            return [f"{path}: the docs have an object, the output has a {type(real).__name__}"]
        problems = [f"{path}.{k}: in the docs, not in the output" for k in example if k != ELLIPSIS and k not in real]
        if ELLIPSIS not in example:
            problems += [f"{path}.{k}: in the output, not in the docs" for k in real if k not in example]
        for k, v in example.items():
            if k != ELLIPSIS and k in real:
                problems += _match(v, real[k], f"{path}.{k}")
        return problems
    if isinstance(example, list):
        if not isinstance(real, list):
            return [f"{path}: the docs have a list, the output {type(real).__name__}"]
        problems = []
        for i, item in enumerate(example):
            # Lists in the docs are excerpts: an item is looked up by its id (or label), else by position.
            ref = item.get("id", item.get("label")) if isinstance(item, dict) else None
            found = [r for r in real if isinstance(r, dict) and ref is not None and r.get("id", r.get("label")) == ref]
            target = found[0] if found else (real[i] if i < len(real) else None)
            if target is None:
                problems.append(f"{path}[{i}]: no such item in the output")
            else:
                problems += _match(item, target, f"{path}[{ref if found else i}]")
        return problems
    if type(example) is not type(real) and not (isinstance(example, float) and isinstance(real, int)):
        return [f"{path}: docs {example!r}, output {real!r}"]
    return [] if example == real else [f"{path}: docs {example!r}, output {real!r}"]


async def test_docs_example_is_real_output(data):
    problems = _match(docs_example(), data, "$")
    assert not problems, "The docs' JSON example differs from summary_to_json:\n" + "\n".join(problems)
