"""The pure survey flow: every action, skip logic, and a property test over random input."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from survey.flow import (
    SKIPPED,
    Answer,
    Back,
    Choose,
    ChooseOther,
    Done,
    Keep,
    Kind,
    Progress,
    Reason,
    Skip,
    Toggle,
    TypeText,
    apply,
    is_visible,
    start,
)
from survey.loader import load_survey, parse_survey
from survey.model import OTHER, QuestionType

MINI = parse_survey(
    {
        "survey": {"id": "mini", "title": "Mini", "questions_total": 7},
        "questions": [
            {
                "id": "s1",
                "type": "single_choice",
                "text": "Single",
                "options": [{"id": "a", "text": "A"}, {"id": "b", "text": "B"}, {"id": "c", "text": "C"}],
                "other_allowed": True,
            },
            {
                "id": "m1",
                "type": "multiple_choice",
                "text": "Multiple",
                "options": [{"id": "x", "text": "X"}, {"id": "y", "text": "Y"}, {"id": "z", "text": "Z"}],
                "other_allowed": True,
                "max_selected": 2,
            },
            {"id": "sc", "type": "scale", "text": "Scale", "scale": {"min": 1, "max": 10}},
            {"id": "n", "type": "number", "text": "Number", "min": 1, "max": 100000},
            {"id": "t", "type": "text", "text": "Text", "max_length": 20, "required": True},
            {"id": "h1", "type": "text", "text": "Only after b", "show_if": {"question": "s1", "any_of": ["b"]}},
            {
                "id": "h2",
                "type": "single_choice",
                "text": "Only for n >= 10",
                "options": [{"id": "yes", "text": "Yes"}, {"id": "no", "text": "No"}],
                "show_if": {"question": "n", "min": 10},
            },
        ],
    },
    source="mini",
)


def expects_text(survey, progress) -> bool:
    """Whether the flow takes a typed message as the answer (not refused with «answer with the buttons»)."""
    return apply(survey, progress, TypeText("1")).reason not in (Reason.NEED_BUTTON, Reason.FINISHED)


@pytest.fixture(scope="module")
def bundled():
    return load_survey()


def at(qid: str, answers: dict[str, Answer] | None = None, **kw) -> Progress:
    return Progress(current=qid, answers=dict(answers or {}), **kw)


def ok(survey, progress: Progress, *actions) -> Progress:
    """Apply actions that must all be accepted; the final progress."""
    for action in actions:
        out = apply(survey, progress, action)
        assert out.kind != Kind.REJECTED, (action, out)
        progress = out.progress
    return progress


def rejected(survey, progress: Progress, action, reason: Reason, limit: int | None = None) -> None:
    out = apply(survey, progress, action)
    assert out.kind == Kind.REJECTED, out
    assert out.reason == reason
    assert out.progress == progress
    assert out.changed == {}
    if limit is not None:
        assert out.limit == limit


# Start and single choice ----------------------------------------------------------------


def test_start():
    p = start(MINI)
    assert p == Progress(current="s1")
    assert not p.finished
    assert p.answers == {} and p.draft == () and not p.awaiting_other


def test_single_choose_advances_and_stores():
    out = apply(MINI, start(MINI), Choose("b"))
    assert out.kind == Kind.ADVANCED
    assert out.changed == {"s1": Answer(option_ids=("b",))}
    assert out.progress.answers == {"s1": Answer(option_ids=("b",))}
    assert out.progress.current == "m1"
    assert out.reason is None


def test_single_unknown_option():
    rejected(MINI, start(MINI), Choose("q"), Reason.UNKNOWN_OPTION)
    rejected(MINI, start(MINI), Choose(OTHER), Reason.UNKNOWN_OPTION)
    rejected(MINI, start(MINI), Toggle("a"), Reason.UNKNOWN_OPTION)
    rejected(MINI, start(MINI), Done(), Reason.UNKNOWN_OPTION)


def test_single_other_asks_text_then_stores_it():
    out = apply(MINI, start(MINI), ChooseOther())
    assert out.kind == Kind.ASK_OTHER
    assert out.progress.awaiting_other
    assert out.progress.current == "s1"
    assert expects_text(MINI, out.progress)
    rejected(MINI, out.progress, TypeText("   "), Reason.EMPTY)
    rejected(MINI, out.progress, TypeText("x" * 501), Reason.TOO_LONG, 500)
    done = apply(MINI, out.progress, TypeText("  Своё  "))
    assert done.kind == Kind.ADVANCED
    assert done.changed == {"s1": Answer(option_ids=(OTHER,), other_text="Своё")}
    assert done.progress.current == "m1"
    assert not done.progress.awaiting_other


def test_single_other_then_a_button_instead():
    p = ok(MINI, start(MINI), ChooseOther())
    out = apply(MINI, p, Choose("a"))
    assert out.kind == Kind.ADVANCED
    assert out.changed == {"s1": Answer(option_ids=("a",))}
    assert not out.progress.awaiting_other


def test_text_while_a_button_question_needs_a_button():
    rejected(MINI, start(MINI), TypeText("a"), Reason.NEED_BUTTON)
    rejected(MINI, at("m1"), TypeText("x"), Reason.NEED_BUTTON)
    rejected(MINI, at("sc"), TypeText("7"), Reason.NEED_BUTTON)
    assert not expects_text(MINI, start(MINI))


def test_other_not_allowed():
    rejected(MINI, at("h2", {"s1": Answer(("a",)), "n": Answer(number=50)}), ChooseOther(), Reason.UNKNOWN_OPTION)
    rejected(MINI, at("sc"), ChooseOther(), Reason.UNKNOWN_OPTION)
    rejected(MINI, at("n"), ChooseOther(), Reason.UNKNOWN_OPTION)


# Multiple choice ------------------------------------------------------------------------


def test_multiple_toggle_on_and_off():
    p = at("m1")
    out = apply(MINI, p, Toggle("y"))
    assert out.kind == Kind.REDRAW
    assert out.progress.draft == ("y",)
    assert out.changed == {}
    out = apply(MINI, out.progress, Toggle("x"))
    assert out.progress.draft == ("y", "x")
    out = apply(MINI, out.progress, Toggle("y"))
    assert out.kind == Kind.REDRAW
    assert out.progress.draft == ("x",)
    assert out.progress.answers == {}


def test_multiple_max_selected():
    p = ok(MINI, at("m1"), Toggle("x"), Toggle("y"))
    rejected(MINI, p, Toggle("z"), Reason.TOO_MANY, 2)
    # 'other' counts too: asking is allowed, the typed text is refused
    asked = ok(MINI, p, ChooseOther())
    assert asked.awaiting_other
    rejected(MINI, asked, TypeText("mine"), Reason.TOO_MANY, 2)
    # unselecting still works at the limit
    assert ok(MINI, p, Toggle("x")).draft == ("y",)


def test_multiple_done_with_nothing_is_too_few():
    rejected(MINI, at("m1"), Done(), Reason.TOO_FEW, 1)


def test_multiple_done_orders_ids_as_in_the_questionnaire():
    p = ok(MINI, at("m1"), Toggle("z"), Toggle("x"))
    out = apply(MINI, p, Done())
    assert out.kind == Kind.ADVANCED
    assert out.changed == {"m1": Answer(option_ids=("x", "z"))}
    assert out.progress.current == "sc"
    assert out.progress.draft == ()


def test_multiple_unknown_option():
    rejected(MINI, at("m1"), Toggle("nope"), Reason.UNKNOWN_OPTION)
    rejected(MINI, at("m1"), Toggle(OTHER), Reason.UNKNOWN_OPTION)
    rejected(MINI, at("m1"), Choose("x"), Reason.UNKNOWN_OPTION)


def test_multiple_other_asks_text_and_adds_other_to_the_draft():
    p = ok(MINI, at("m1"), Toggle("z"))
    out = apply(MINI, p, ChooseOther())
    assert out.kind == Kind.ASK_OTHER
    assert out.progress.draft == ("z",)
    assert expects_text(MINI, out.progress)
    out = apply(MINI, out.progress, TypeText(" своё "))
    assert out.kind == Kind.REDRAW
    assert out.progress.draft == ("z", OTHER)
    assert out.progress.draft_other == "своё"
    assert not out.progress.awaiting_other
    assert not expects_text(MINI, out.progress)
    # ChooseOther again removes it
    removed = apply(MINI, out.progress, ChooseOther())
    assert removed.kind == Kind.REDRAW
    assert removed.progress.draft == ("z",)
    assert removed.progress.draft_other is None
    # Done with 'other' keeps its text, 'other' last
    done = apply(MINI, ok(MINI, out.progress), Done())
    assert done.changed == {"m1": Answer(option_ids=("z", OTHER), other_text="своё")}


def test_multiple_other_alone_and_retyped():
    p = ok(MINI, at("m1"), ChooseOther(), TypeText("first"))
    assert p.draft == (OTHER,)
    # typing while not awaiting the other text is refused; asking again would remove it
    rejected(MINI, p, TypeText("second"), Reason.NEED_BUTTON)
    done = apply(MINI, p, Done())
    assert done.changed == {"m1": Answer(option_ids=(OTHER,), other_text="first")}


def test_toggle_cancels_a_pending_other_question():
    p = ok(MINI, at("m1"), ChooseOther(), Toggle("x"))
    assert not p.awaiting_other
    assert p.draft == ("x",)


# Scale ----------------------------------------------------------------------------------


def test_scale_choose():
    out = apply(MINI, at("sc"), Choose("7"))
    assert out.kind == Kind.ADVANCED
    assert out.changed == {"sc": Answer(number=7)}
    assert ok(MINI, at("sc"), Choose("1")).answers["sc"] == Answer(number=1)
    assert ok(MINI, at("sc"), Choose("10")).answers["sc"] == Answer(number=10)


@pytest.mark.parametrize("value", ["0", "11", "x", "", "-1", "7.5", " 7", "²", "١", "9" * 5000, "7\n"])
def test_scale_bad_values(value):
    rejected(MINI, at("sc"), Choose(value), Reason.UNKNOWN_OPTION)


def test_scale_with_negative_values():
    s = parse_survey(
        {
            "survey": {"id": "s", "title": "S"},
            "questions": [{"id": "r", "type": "scale", "text": "R", "scale": {"min": -5, "max": 5}}],
        }
    )
    assert ok(s, start(s), Choose("-3")).answers["r"] == Answer(number=-3)
    assert ok(s, start(s), Choose("0")).answers["r"] == Answer(number=0)
    rejected(s, start(s), Choose("-6"), Reason.UNKNOWN_OPTION)
    rejected(s, start(s), Choose("--3"), Reason.UNKNOWN_OPTION)


# Number ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  42 ", 42),
        ("1 000", 1000),
        ("1\u00a0000", 1000),
        ("100000", 100000),
        ("1", 1),
        ("007", 7),
    ],
)
def test_number_accepted(text, expected):
    out = apply(MINI, at("n"), TypeText(text))
    assert out.kind == Kind.ADVANCED
    assert out.changed == {"n": Answer(number=expected)}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("abc", Reason.NOT_A_NUMBER),
        ("", Reason.NOT_A_NUMBER),
        ("   ", Reason.NOT_A_NUMBER),
        ("-", Reason.NOT_A_NUMBER),
        ("--5", Reason.NOT_A_NUMBER),
        ("5-", Reason.NOT_A_NUMBER),
        ("4.5", Reason.NOT_A_NUMBER),
        ("1,5", Reason.NOT_A_NUMBER),
        ("12abc", Reason.NOT_A_NUMBER),
        ("²", Reason.NOT_A_NUMBER),
        ("1²", Reason.NOT_A_NUMBER),
        ("9" * 13, Reason.NOT_A_NUMBER),
        ("9" * 5000, Reason.NOT_A_NUMBER),
        ("0", Reason.OUT_OF_RANGE),
        ("-5", Reason.OUT_OF_RANGE),
        ("100001", Reason.OUT_OF_RANGE),
        ("99999999999999", Reason.NOT_A_NUMBER),  # 14 digits: longer than any sensible count
        ("999999999999", Reason.OUT_OF_RANGE),
    ],
)
def test_number_rejected(text, reason):
    rejected(MINI, at("n"), TypeText(text), reason)


def test_number_without_bounds_takes_negatives():
    s = parse_survey(
        {"survey": {"id": "s", "title": "S"}, "questions": [{"id": "v", "type": "number", "text": "V"}]}
    )
    assert ok(s, start(s), TypeText("-5")).answers["v"] == Answer(number=-5)
    assert ok(s, start(s), TypeText("0")).answers["v"] == Answer(number=0)
    assert expects_text(s, start(s))


def test_number_rejects_buttons():
    rejected(MINI, at("n"), Choose("5"), Reason.UNKNOWN_OPTION)
    rejected(MINI, at("n"), Done(), Reason.UNKNOWN_OPTION)


# Text -----------------------------------------------------------------------------------


def test_text_answer():
    out = apply(MINI, at("t"), TypeText("  hello  "))
    assert out.changed == {"t": Answer(text="hello")}
    assert expects_text(MINI, at("t"))


def test_text_too_long_and_empty():
    rejected(MINI, at("t"), TypeText("x" * 21), Reason.TOO_LONG, 20)
    assert ok(MINI, at("t"), TypeText("x" * 20)).answers["t"] == Answer(text="x" * 20)
    rejected(MINI, at("t"), TypeText(""), Reason.EMPTY)
    rejected(MINI, at("t"), TypeText(" \n\t "), Reason.EMPTY)


# Skip, Back, Keep -----------------------------------------------------------------------


def test_skip_stores_a_skipped_answer_and_advances():
    out = apply(MINI, start(MINI), Skip())
    assert out.kind == Kind.ADVANCED
    assert out.changed == {"s1": SKIPPED}
    assert out.progress.current == "m1"
    assert SKIPPED.skipped and SKIPPED.option_ids == () and SKIPPED.number is None


def test_skip_discards_a_draft():
    out = apply(MINI, ok(MINI, at("m1"), Toggle("x")), Skip())
    assert out.changed == {"m1": SKIPPED}
    assert out.progress.draft == ()


def test_required_question_cannot_be_skipped():
    rejected(MINI, at("t"), Skip(), Reason.REQUIRED)


def test_back_from_the_first_question():
    rejected(MINI, start(MINI), Back(), Reason.FIRST_QUESTION)


def test_back_returns_to_the_previous_shown_question():
    # s1 = a hides h1; n = 50 shows h2
    p = ok(MINI, start(MINI), Choose("a"), Toggle("y"), Toggle("x"), Done(), Choose("5"), TypeText("50"), TypeText("hi"))
    assert p.current == "h2"
    out = apply(MINI, p, Back())
    assert out.kind == Kind.BACK
    assert out.changed == {}
    assert out.progress.current == "t"  # h1 is hidden and skipped over
    assert out.progress.answers == p.answers
    p = ok(MINI, out.progress, Back(), Back(), Back())
    assert p.current == "m1"
    # the multiple-choice draft comes back from the stored answer, in questionnaire order
    assert p.draft == ("x", "y")
    # Keep re-records the answer and moves on
    out = apply(MINI, p, Keep())
    assert out.kind == Kind.ADVANCED
    assert out.changed == {"m1": Answer(option_ids=("x", "y"))}
    assert out.progress.current == "sc"
    assert out.progress.answers == p.answers


def test_back_restores_other_text_of_a_multiple_answer():
    p = ok(MINI, at("m1", {"s1": Answer(("a",))}), ChooseOther(), TypeText("own"), Done())
    back = ok(MINI, p, Back())
    assert back.current == "m1"
    assert back.draft == (OTHER,)
    assert back.draft_other == "own"
    # change the selection: the stored answer is replaced
    out = apply(MINI, ok(MINI, back, ChooseOther(), Toggle("z")), Done())
    assert out.changed == {"m1": Answer(option_ids=("z",))}


def test_back_onto_a_skipped_multiple_has_an_empty_draft():
    p = ok(MINI, at("m1", {"s1": Answer(("a",))}), Skip())
    back = ok(MINI, p, Back())
    assert back.current == "m1" and back.draft == ()
    assert apply(MINI, back, Keep()).changed == {"m1": SKIPPED}


def test_back_clears_pending_other():
    p = ok(MINI, at("m1", {"s1": Answer(("a",))}), ChooseOther())
    back = ok(MINI, p, Back())
    assert back.current == "s1"
    assert not back.awaiting_other


def test_keep_without_an_answer():
    rejected(MINI, start(MINI), Keep(), Reason.NEED_BUTTON)


def test_changing_an_earlier_answer_hides_and_deletes_a_later_one():
    p = ok(MINI, start(MINI), Choose("b"), Skip(), Skip(), TypeText("5"), TypeText("hi"))
    assert p.current == "h1"
    p = ok(MINI, p, TypeText("because b"))
    assert p.current is None  # n = 5 hides h2
    assert set(p.answers) == {"s1", "m1", "sc", "n", "t", "h1"}
    # Back from the end is not possible (finished); walk back in a fresh progress placed on s1
    p = replace(p, current="s1")
    out = apply(MINI, p, Choose("a"))
    assert out.kind == Kind.ADVANCED
    assert out.changed == {"s1": Answer(("a",)), "h1": None}
    assert "h1" not in out.progress.answers
    assert out.progress.current == "m1"
    # the next questions skip the hidden one: after t comes the end
    p = ok(MINI, out.progress, Keep(), Keep(), Keep())
    assert p.current == "t"
    fin = apply(MINI, p, Keep())
    assert fin.kind == Kind.FINISHED
    assert fin.progress.current is None
    assert "h1" not in fin.progress.answers


def test_number_condition_shows_and_hides():
    base = {"s1": Answer(("a",)), "m1": SKIPPED, "sc": SKIPPED}
    p = ok(MINI, at("n", base), TypeText("10"), TypeText("hi"))
    assert p.current == "h2"
    p = ok(MINI, p, Choose("yes"))
    assert p.finished and p.answers["h2"] == Answer(("yes",))
    # back on n, answer 9: h2 hidden, its answer dropped
    p = replace(p, current="n")
    out = apply(MINI, p, TypeText("9"))
    assert out.changed == {"n": Answer(number=9), "h2": None}
    assert out.progress.current == "t"
    assert ok(MINI, out.progress, Keep()).finished
    # skipping n also hides h2 (a skipped answer has no number)
    out = apply(MINI, replace(p, current="n"), Skip())
    assert out.changed == {"n": SKIPPED, "h2": None}


def test_finishing_and_after():
    p = at("h2", {"s1": Answer(("a",)), "n": Answer(number=50), "t": Answer(text="x")})
    out = apply(MINI, p, Choose("no"))
    assert out.kind == Kind.FINISHED
    assert out.progress.current is None
    assert out.progress.finished
    assert out.changed == {"h2": Answer(("no",))}
    assert not expects_text(MINI, out.progress)
    for action in (Choose("no"), Toggle("x"), ChooseOther(), Done(), Keep(), Skip(), Back(), TypeText("x")):
        rejected(MINI, out.progress, action, Reason.FINISHED)


def test_full_walk_of_mini():
    p = start(MINI)
    kinds = []
    for action in (Choose("b"), Toggle("x"), ChooseOther(), TypeText("o"), Done(), Choose("3"), TypeText("12"),
                   TypeText("t"), TypeText("h"), Choose("yes")):
        out = apply(MINI, p, action)
        kinds.append(out.kind)
        p = out.progress
    assert kinds[-1] == Kind.FINISHED
    assert p.answers == {
        "s1": Answer(("b",)),
        "m1": Answer(("x", OTHER), other_text="o"),
        "sc": Answer(number=3),
        "n": Answer(number=12),
        "t": Answer(text="t"),
        "h1": Answer(text="h"),
        "h2": Answer(("yes",)),
    }


# The bundled study ----------------------------------------------------------------------


def test_full_walk_of_the_bundled_survey(bundled):
    def valid_action(q):
        if q.type == QuestionType.SINGLE:
            return [Choose(q.option_ids[-1])]
        if q.type == QuestionType.MULTIPLE:
            return [Toggle(q.option_ids[1]), Toggle(q.option_ids[0]), Done()]
        if q.type == QuestionType.SCALE:
            return [Choose(str(q.scale.max))]
        if q.type == QuestionType.NUMBER:
            return [TypeText("25")]
        return [TypeText("ответ")]

    p = start(bundled)
    seen = []
    out = None
    while not p.finished:
        q = bundled.get(p.current)
        seen.append(q.id)
        assert bundled.number(q.id) == len(seen)
        for action in valid_action(q):
            out = apply(bundled, p, action)
            assert out.kind != Kind.REJECTED, (q.id, action, out)
            p = out.progress
    assert out.kind == Kind.FINISHED
    assert seen == [q.id for q in bundled.questions]
    assert len(p.answers) == 14
    assert p.answers["q02_am_functions"].option_ids == ("client_communication", "consulting")
    assert p.answers["q05_subcontractor_rating"] == Answer(number=10)
    assert p.answers["q12_company_size"] == Answer(number=25)


def test_bundled_survey_can_be_skipped_entirely(bundled):
    p = ok(bundled, start(bundled), *[Skip()] * 14)
    assert p.finished
    assert all(a == SKIPPED for a in p.answers.values()) and len(p.answers) == 14


def test_bundled_other_with_custom_label(bundled):
    out = apply(bundled, ok(bundled, start(bundled), ChooseOther()), TypeText("Руководитель + помощница"))
    assert out.changed == {"q01_who_does_accounting": Answer((OTHER,), other_text="Руководитель + помощница")}


# Property test --------------------------------------------------------------------------

_BUNDLED = load_survey()
_IDS = sorted({o for survey in (_BUNDLED, MINI) for q in survey.questions for o in q.option_ids} | {OTHER})

_values = st.one_of(
    st.sampled_from(_IDS),
    st.integers(-2, 12).map(str),
    st.text(max_size=8),
)
_typed = st.one_of(
    st.integers(-3, 30).map(str),
    st.integers(-10, 200000).map(str),
    st.sampled_from(["", " ", "1 000", "abc", "²", "x" * 600, "x" * 1001, "  ok  "]),
    st.text(max_size=30),
)
# Weighted so that random walks get deep into the questionnaire (Skip and Done advance).
_actions = st.one_of(
    st.builds(Choose, _values),
    st.builds(Choose, st.sampled_from(_IDS)),
    st.builds(Toggle, _values),
    st.builds(Toggle, st.sampled_from(_IDS)),
    st.just(ChooseOther()),
    st.just(Done()),
    st.just(Keep()),
    st.just(Skip()),
    st.just(Skip()),
    st.just(Back()),
    st.just(Back()),
    st.builds(TypeText, _typed),
)


def _check_answer(survey, qid: str, a: Answer) -> None:
    q = survey.get(qid)
    if a.skipped:
        assert not q.required
        assert a == SKIPPED
        return
    if q.type in (QuestionType.SINGLE, QuestionType.MULTIPLE):
        allowed = set(q.option_ids) | ({OTHER} if q.other_allowed else set())
        assert a.option_ids and set(a.option_ids) <= allowed
        assert len(set(a.option_ids)) == len(a.option_ids)
        if q.type == QuestionType.SINGLE:
            assert len(a.option_ids) == 1
        else:
            order = q.option_ids + [OTHER]
            assert list(a.option_ids) == sorted(a.option_ids, key=order.index)
            assert (q.min_selected or 1) <= len(a.option_ids) <= (q.max_selected or len(allowed))
        assert (a.other_text is not None) == (OTHER in a.option_ids)
        if a.other_text is not None:
            assert a.other_text and a.other_text == a.other_text.strip() and len(a.other_text) <= 500
        assert a.number is None and a.text is None
    elif q.type == QuestionType.SCALE:
        assert a.number is not None and q.scale.min <= a.number <= q.scale.max
        assert a.option_ids == () and a.text is None and a.other_text is None
    elif q.type == QuestionType.NUMBER:
        assert a.number is not None
        assert q.min is None or a.number >= q.min
        assert q.max is None or a.number <= q.max
        assert a.option_ids == () and a.text is None and a.other_text is None
    else:
        assert a.text and a.text == a.text.strip() and len(a.text) <= q.max_length
        assert a.option_ids == () and a.number is None and a.other_text is None


@pytest.mark.parametrize("survey", [_BUNDLED, MINI], ids=["bundled", "mini"])
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions=st.lists(_actions, min_size=20, max_size=100))
# On MINI: answer through h1, go back to s1 and change it so h1 is hidden (its answer deleted), then finish.
@example(
    actions=[Choose("b"), Skip(), Skip(), TypeText("12"), TypeText("hi"), TypeText("h"), Back(), Back(), Back()]
    + [Back(), Back(), Back(), Choose("a"), Keep(), Keep(), TypeText("3"), Keep(), Back(), Skip()]
)
def test_random_actions_keep_the_progress_valid(survey, actions):
    p = start(survey)
    for action in actions:
        out = apply(survey, p, action)
        if out.kind == Kind.REJECTED:
            assert out.progress == p
            assert out.changed == {}
            assert out.reason is not None
        else:
            for qid, a in out.changed.items():
                assert out.progress.answers.get(qid) == a
            assert (out.kind == Kind.FINISHED) == (out.progress.current is None)
        p = out.progress
        for qid, a in p.answers.items():
            _check_answer(survey, qid, a)
            assert is_visible(survey.get(qid), p.answers)
        if p.current is not None:
            q = survey.get(p.current)
            assert is_visible(q, p.answers)
            assert set(p.draft) <= set(q.option_ids) | {OTHER}
            assert len(p.draft) <= (q.max_selected or len(q.options) + q.other_allowed)
            assert (p.draft_other is not None) == (OTHER in p.draft)
            assert not p.awaiting_other or q.other_allowed
            assert expects_text(survey, p) == (p.awaiting_other or q.type in (QuestionType.NUMBER, QuestionType.TEXT))
        else:
            assert not expects_text(survey, p)
