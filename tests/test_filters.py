"""Respondent filters: the grammar, its one-line errors, and every summary, chart, funnel and export on the subset."""

from __future__ import annotations

import io
import re

import pandas as pd
import pytest

from analytics.export import export_csv
from analytics.filters import FilterError, parse_filter
from analytics.summary import build_summary, summary_to_json
from analytics.summary_text import render_funnel, render_question, render_summary
from bot.admin.args import StatsArgsError, parse_stats_args
from bot.respondent import screens as bot_render
from storage.db import create_engine
from storage.migrate import upgrade
from survey.i18n import translator
from survey.loader import load_survey
from tests.analytics_data import insert_fixed
from tests.conftest import ADMIN_ID

CYRILLIC = re.compile("[А-Яа-яЁё]")

Q01, Q02, Q05, Q12, Q13 = ("q01_who_does_accounting", "q02_am_functions", "q05_subcontractor_rating",
                          "q12_company_size", "q13_region")


@pytest.fixture
def survey():
    return load_survey()


@pytest.fixture
async def engine(db_url, survey):
    eng = create_engine(db_url)
    await upgrade(eng)
    await insert_fixed(eng, survey)
    yield eng
    await eng.dispose()


# Grammar --------------------------------------------------------------------------------


def test_parse_numbers_ids_other_ranges_and_source(survey):
    f = parse_filter("where 1=2,other 12=1-50 5=8+ 13=moscow source=channel", survey)
    kinds = [(c.kind, c.question_id, c.values, c.low, c.high) for c in f.conditions]
    assert kinds == [
        ("choice", Q01, ("ceo", "other"), None, None),
        ("range", Q12, (), 1, 50),
        ("range", Q05, (), 8, None),
        ("choice", Q13, ("moscow",), None, None),
        ("source", None, ("channel",), None, None),
    ]
    assert f.describe(translator("ru")) == ("1 = Руководитель компании или Прочее (укажите); 12 = 1–50; 5 = 8+; 13 = Москва; "
                            "источник = channel")


@pytest.mark.parametrize(
    ("expr", "says"),
    [
        ("11=9", "у вопроса 11 нет варианта «9»: варианты 1–7, other или их id"),
        ("99=1", "вопроса 99 нет (в анкете 14)"),
        ("nope=1", "вопроса «nope» нет в анкете"),
        ("12=abc", "у вопроса 12 значение «abc» — не число и не диапазон"),
        ("12=50-1", "в диапазоне «50-1» начало больше конца"),
        ("11", "«11» — не условие"),
        ("11=", "«11=» — не условие"),
        ("source=", "«source=» — не условие"),
        ("", "пустой фильтр"),
    ],
)
def test_invalid_filters_explain_the_syntax_in_one_line(survey, expr, says):
    with pytest.raises(FilterError) as err:
        parse_filter(expr, survey)
    message = err.value.text(translator("ru"))  # as an admin whose Telegram is in Russian reads it
    assert says in message and "where 11=2" in message and "\n" not in message
    assert "where 11=2" in str(err.value) and not CYRILLIC.search(str(err.value).replace(expr, ""))  # str(): English


def test_stats_words(survey):
    r = parse_stats_args(["2", "where", "11=2", "12=1-50", "completed"], survey, ["2020"])
    assert (r.view, r.question, r.where, r.completed_only) == ("question", "2", ("11=2", "12=1-50"), True)
    assert parse_stats_args(["2020"], survey, ["2020"]).view == "compare"
    assert parse_stats_args(["2020"], survey, []).view == "question"  # no baseline: a question number
    with pytest.raises(StatsArgsError):
        parse_stats_args(["11=2"], survey, [])  # a condition without where
    with pytest.raises(StatsArgsError):
        parse_stats_args(["charts", "funnel"], survey, [])


# The subset -----------------------------------------------------------------------------


async def test_summary_of_a_subset(engine, survey):
    # q13 = moscow is R1..R45 (all completed); among them q01: R1-45 account managers.
    summary = await build_summary(engine, survey, where=parse_filter("13=1", survey))
    assert (summary.started, summary.completed, summary.in_progress) == (45, 45, 0)
    q1 = summary.question(1)
    assert q1.n == 45 and q1.options[0].count == 45
    q2 = summary.question(2)  # R1..R8 answered q02
    assert q2.n == 8
    assert summary.filter == "13 = Москва"
    text = "\n".join(render_summary(summary))
    assert "Фильтр: 13 = Москва — респондентов: 45" in text
    assert summary_to_json(summary)["filter"] == "13 = Москва"
    assert "Фильтр: 13 = Москва" in render_question(summary, 1)[0]
    funnel = render_funnel(summary)[0]
    assert "Фильтр: 13 = Москва" in funnel and "Начали: 45." in funnel


async def test_ranges_either_options_source_and_and(engine, survey):
    async def started(expr: str) -> int:
        return (await build_summary(engine, survey, where=parse_filter(expr, survey))).started

    assert await started("12=1-15") == 4  # values 1, 5, 6, 15
    assert await started("12=16+") == 4
    assert await started("5=10") == 3  # R10, R11, R12
    assert await started("1=2,3") == 30  # ceo R55-74, executors R75-84
    assert await started("1=other") == 5  # R89-93, two of them in progress
    assert await started("2=client_communication") == 6
    assert await started("source=channel") == 50  # even respondents R2..R100
    assert await started("source=none") == 50
    assert await started("source=channel 1=1") == 27  # even numbers in 1..54
    # In progress respondents still count toward what they answered:
    s = await build_summary(engine, survey, where=parse_filter("1=other", survey))
    assert (s.completed, s.in_progress) == (2, 3)


async def test_filter_that_leaves_nobody(engine, survey):
    summary = await build_summary(engine, survey, where=parse_filter("1=1 13=3", survey))
    assert summary.started == 0 and all(q.n == 0 for q in summary.questions)


async def test_filtered_export_has_only_the_subset(engine, survey, tmp_path):
    out = io.BytesIO()
    rows = await export_csv(engine, survey, out, where=parse_filter("13=2", survey))
    frame = pd.read_csv(io.BytesIO(out.getvalue()), encoding="utf-8-sig")
    assert rows == 30 and sorted(frame["response_id"]) == list(range(46, 76))


# In the chat ----------------------------------------------------------------------------


async def _walk(u, role: str) -> None:
    await u.begin()
    await u.press(role)


async def test_admin_filters(make_user, bot):
    _, request = bot
    await _walk(make_user(6101), "Аккаунт-менеджеры")
    await _walk(make_user(6102), "Руководитель компании")
    await _walk(make_user(6103), "Руководитель компании")
    admin = make_user(ADMIN_ID)
    await admin.send("/stats where 1=2")
    text = "\n".join(m.text for m in admin.messages())
    assert "Фильтр: 1 = Руководитель компании — респондентов: 2" in text
    assert "Руководитель компании — 2 (100,0%)" in text
    before = len(request.calls)
    await admin.send("/stats where 1=4")
    (name, payload), = [(n, p) for n, p in request.calls[before:] if n == "sendMessage"]
    assert payload["text"] == "Под фильтр «1 = Руководитель отдела / группы» не попал ни один респондент — считать нечего."
    before = len(request.calls)
    await admin.send("/stats where 1=9")
    (name, payload), = [(n, p) for n, p in request.calls[before:] if n == "sendMessage"]
    assert payload["text"].startswith("Фильтр не применён: у вопроса 1 нет варианта «9»") and "\n" not in payload["text"]
    before = len(request.calls)
    await admin.send("/export csv where 1=2")
    docs = [p for n, p in request.calls[before:] if n == "sendDocument"]
    (filename, content), = docs[0]["_files"].values()
    assert filename.endswith("_filtered.csv") and "фильтр: 1 = Руководитель компании" in docs[0]["caption"]
    assert len(pd.read_csv(io.BytesIO(content), encoding="utf-8-sig")) == 2
    before = len(request.calls)
    await admin.send("/stats charts where 1=2")
    photos = [p for n, p in request.calls[before:] if n == "sendMediaGroup"]
    assert "Фильтр: 1 = Руководитель компании" in str(photos[0]["media"])
    before = len(request.calls)
    await admin.send("/stats funnel where 1=2")
    assert any(n == "sendPhoto" and "Фильтр" in str(p.get("caption")) for n, p in request.calls[before:])


@pytest.mark.parametrize("command", ["/stats where 1=2", "/stats 2 where 1=1", "/export where 1=1"])
async def test_non_admin_filters_are_unknown_commands(make_user, bot, command):
    _, request = bot
    u = make_user(6201)
    await u.begin()
    before = len(request.calls)
    await u.send(command)
    assert [(n, p["text"]) for n, p in request.calls[before:]] == [("sendMessage", translator("ru").gettext(bot_render.UNKNOWN_COMMAND))]
