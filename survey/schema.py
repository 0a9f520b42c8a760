"""The questionnaire file's JSON Schema, generated from the pydantic model, for editors to validate and complete."""

from __future__ import annotations

import copy
from typing import Any

from survey.model import Survey

SCHEMA_ID = "https://example.invalid/surveybot/survey.schema.json"  # a name, never fetched


def survey_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a questionnaire file as written in YAML."""
    schema = copy.deepcopy(Survey.model_json_schema(mode="validation"))
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **{k: v for k, v in schema.items() if k not in ("title", "description")},
        "title": "surveybot questionnaire",
        "description": "A questionnaire for surveybot: a `survey` header and a list of `questions`. "
        "`surveybot check-survey FILE` checks what a schema cannot (ids that must exist, numbering, skip logic).",
    }
    question = schema["$defs"]["Question"]["properties"]
    # The model turns a single `show_if` mapping into a list of one: the file may hold either.
    question["show_if"] = {
        "anyOf": [{"$ref": "#/$defs/Condition"}, {"type": "array", "items": {"$ref": "#/$defs/Condition"}}],
        "description": "show the question only when an earlier answer matches (a list means all of them)",
    }
    # `options_from: q02` is short for `options_from: {question: q02}`.
    question["options_from"] = {
        "anyOf": [{"type": "string"}, {"$ref": "#/$defs/OptionsFrom"}, {"type": "null"}],
        "description": "carry-forward: offer only the options chosen (take: selected) or not chosen (not_selected) "
        "in an earlier multiple-choice question",
    }
    return schema
