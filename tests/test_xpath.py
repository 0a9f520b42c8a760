"""The XPath subset of XLSForm's relevant and constraint columns, read into show_if conditions and bounds."""

from __future__ import annotations

import pytest

from survey import xpath
from survey.flow import Answer, condition_holds
from survey.model import QuestionType as T

TYPES = {"pet": T.SINGLE, "food": T.MULTIPLE, "age": T.NUMBER, "rate": T.SCALE, "name": T.TEXT}


def cond(text: str) -> dict:
    return xpath.to_condition(xpath.parse(text), TYPES.get).model_dump(by_alias=True, exclude_none=True)


@pytest.mark.parametrize(("text", "expected"), [
    ("${pet} = 'cat'", {"question": "pet", "any_of": ["cat"]}),
    ("${pet} != 'cat'", {"question": "pet", "none_of": ["cat"]}),
    ("'cat' = ${pet}", {"question": "pet", "any_of": ["cat"]}),
    ("selected(${food}, 'fish')", {"question": "food", "any_of": ["fish"]}),
    ("selected(../food, 'other')", {"question": "food", "any_of": ["other"]}),
    ("not(selected(${food}, 'fish'))", {"question": "food", "none_of": ["fish"]}),
    ("${pet} = 'cat' or ${pet} = 'dog'", {"question": "pet", "any_of": ["cat", "dog"]}),
    ("${age} >= 18 and ${age} <= 65", {"question": "age", "min": 18, "max": 65}),
    ("${age} > 17", {"question": "age", "min": 18}),
    ("${age} < 18", {"question": "age", "max": 17}),
    ("18 <= ${age}", {"question": "age", "min": 18}),
    ("${rate} = 5", {"question": "rate", "min": 5, "max": 5}),
    ("${age} != 5", {"not": {"question": "age", "min": 5, "max": 5}}),
    ("${age} > 17.5", {"question": "age", "min": 18}),
    ("count-selected(${food}) >= 2", {"question": "food", "selected_min": 2}),
    ("count-selected(${food}) < 2", {"question": "food", "selected_max": 1}),
    ("${name} != ''", {"question": "name", "answered": True}),
    ("${name} = ''", {"question": "name", "answered": False}),
    ("(${pet} = 'cat') and (${pet} != 'dog')",
     {"all": [{"question": "pet", "any_of": ["cat"]}, {"question": "pet", "none_of": ["dog"]}]}),
    ("${pet} = 'cat' or not(${age} < 18 and selected(${food}, 'fish'))",
     {"any": [{"question": "pet", "any_of": ["cat"]},
              {"not": {"all": [{"question": "age", "max": 17}, {"question": "food", "any_of": ["fish"]}]}}]}),
])
def test_the_subset_becomes_show_if(text, expected):
    assert cond(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("today() > 3", "the function today() is not supported"),
    ("string-length(${name}) > 3", "the function string-length() is not supported"),
    ("${food} = 'fish'", "select_multiple question: write selected(${food}, 'fish')"),
    ("${name} = 'Bob'", "${name} is a text question"),
    ("${pet} > 3", "'>' compares numbers; ${pet} is a select_one question"),
    ("${ghost} = 'x'", "${ghost} is not an earlier question"),
    ("${pet} = 'cat' and", "the expression ends too early"),
    ("${pet} = 'cat' ${pet}", "unexpected 'pet'"),
    ("${age} + 1 > 3", "'+' is not part of the supported XPath"),
    ("${pet}", "a question or value alone is not a condition"),
    ("", "the expression is empty"),
])
def test_what_is_outside_the_subset_is_said(text, message):
    with pytest.raises(xpath.XPathError) as info:
        xpath.to_condition(xpath.parse(text), TYPES.get)
    assert message in str(info.value)


def test_the_semantics_follow_xpath_for_unanswered_questions():
    # In XPath an unanswered question is '': `!= 'x'` holds, `= 'x'` and numeric comparisons do not.
    c = xpath.to_condition(xpath.parse("${pet} != 'cat'"), TYPES.get)
    assert condition_holds(c, {}) and not condition_holds(c, {"pet": Answer(option_ids=("cat",))})
    c = xpath.to_condition(xpath.parse("${age} < 18"), TYPES.get)
    assert not condition_holds(c, {}) and condition_holds(c, {"age": Answer(number=12)})
    c = xpath.to_condition(xpath.parse("${age} != 18"), TYPES.get)
    assert condition_holds(c, {}) and not condition_holds(c, {"age": Answer(number=18)})


def test_constraint_bounds():
    assert xpath.bounds(xpath.parse(". >= 1 and . <= 100")) == (1, 100)
    assert xpath.bounds(xpath.parse(". > 0")) == (1, None)
    assert xpath.bounds(xpath.parse("(. < 10)")) == (None, 9)
    for bad in (". != 3", "${age} > 3", ". > 1 or . < 0", "regex(., '[0-9]+')"):
        with pytest.raises(xpath.XPathError):
            xpath.bounds(xpath.parse(bad))
