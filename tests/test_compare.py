"""The 2020 wave as a baseline: questionnaire validation, the tests (checked by hand), text, chart, JSON, bot, CLI."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from analytics.compare import add_to_json, compare, render_comparison
from analytics.compare_charts import comparison_chart
from analytics.messages import fits
from analytics.significance import independence, two_proportions
from analytics.summary import build_summary, summary_to_json
from storage.answer_counts import recount
from storage.db import create_engine
from storage.migrate import upgrade
from storage.models import Answer, AnswerChoice
from survey.i18n import translator
from survey.loader import SurveyError, bundled_survey_path, load_survey, parse_survey
from tests.analytics_data import insert_2020_copy
from tests.conftest import ADMIN_ID

RU = translator("ru").gettext  # the bot's texts as a respondent whose Telegram is in Russian reads them

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = ROOT.parent.parent / "shared" / "survey" / "published_2020.yaml"


@pytest.fixture
def survey():
    return load_survey()


def _raw() -> dict:
    return yaml.safe_load(bundled_survey_path().read_text(encoding="utf-8"))


# The questionnaire ----------------------------------------------------------------------


def test_bundled_baselines_are_the_published_figures(survey):
    q1 = survey.get("q01_who_does_accounting").baseline
    assert (q1.wave, q1.n, q1.respondents, q1.n_provenance) == ("2020", 93, 99, "inferred")
    assert q1.options["account_managers"].count == 54 and q1.options["account_managers"].percent == Decimal("58.1")
    assert q1.options["ceo"].printed == "14%"
    q4 = survey.get("q04_subcontractors").baseline
    assert q4.options["all_inhouse"].provenance == "assumed"
    assert survey.get("q05_subcontractor_rating").baseline.groups["4-7"].count == 51
    assert [q.id for q in survey.questions if q.baseline] == [
        "q01_who_does_accounting", "q02_am_functions", "q03_org_structure", "q04_subcontractors", "q05_subcontractor_rating"]


@pytest.mark.skipif(not PUBLISHED.exists(), reason="shared/survey/published_2020.yaml is not beside the checkout")
def test_bundled_baselines_match_the_shared_file(survey):
    published = yaml.safe_load(PUBLISHED.read_text(encoding="utf-8"))
    for qid, q in published["questions"].items():
        b = survey.get(qid).baseline
        assert b.n == q["n"]
        figures = {**(q.get("options") or q.get("scores")), **q.get("groups", {})}
        ours = {**b.options, **b.groups}
        assert set(ours) == set(figures)
        for key, f in figures.items():
            assert (float(ours[key].percent), ours[key].count, ours[key].provenance) == (f["percent"], f["count"], f["provenance"])


@pytest.mark.parametrize(
    ("qid", "change", "problem"),
    [
        ("q01_who_does_accounting", {"options": {"nope": {"percent": 1.1, "count": 1, "provenance": "published"}}},
         "baseline.options.nope: not an option of q01_who_does_accounting"),
        ("q01_who_does_accounting", {"options": {"ceo": {"percent": 14.0, "count": 99, "provenance": "published"}}},
         "baseline.options.ceo: count 99 is more than n = 93"),
        ("q01_who_does_accounting", {"options": {"ceo": {"percent": 15.0, "count": 13, "provenance": "published"}}},
         "baseline.options.ceo: count 13 of n = 93 does not give 15.0%"),
        ("q01_who_does_accounting", {"options": {"ceo": {"percent": 50.5, "count": 47, "provenance": "published"},
                                                 "executors": {"percent": 50.5, "count": 47, "provenance": "published"}}},
         "baseline.options: the counts add up to 94, more than n = 93"),
        ("q05_subcontractor_rating", {"options": {"11": {"percent": 4.5, "count": 3, "provenance": "published"}}},
         "baseline.options.11: not a point of the scale 1-10"),
        ("q05_subcontractor_rating", {"groups": {"x": {"percent": 4.5, "count": 3, "provenance": "published"}}},
         "baseline.groups.x: not a range like '4-7'"),
    ],
)
def test_check_survey_finds_baseline_problems(qid, change, problem):
    raw = _raw()
    q = next(q for q in raw["questions"] if q["id"] == qid)
    q["baseline"] = {**q["baseline"], **change}
    with pytest.raises(SurveyError) as err:
        parse_survey(raw)
    assert f"question {qid}: {problem}" in err.value.problems


def test_check_survey_rejects_a_provenance_outside_the_three():
    raw = _raw()
    raw["questions"][0]["baseline"]["options"]["ceo"]["provenance"] = "rumour"
    with pytest.raises(SurveyError) as err:
        parse_survey(raw)
    assert any("provenance" in p for p in err.value.problems)


def test_baseline_on_a_text_question_is_refused():
    raw = {"survey": {"id": "t", "title": "T"}, "questions": [
        {"id": "t1", "type": "text", "text": "Что?", "baseline": {"source": "s", "n": 5, "options": {}}}]}
    with pytest.raises(SurveyError) as err:
        parse_survey(raw)
    assert "question t1: baseline: text questions cannot carry baseline figures" in err.value.problems


# The tests, against independent computations --------------------------------------------


def _z_by_hand(c1: int, n1: int, c2: int, n2: int) -> tuple[float, float]:
    pooled = (c1 + c2) / (n1 + n2)
    z = (c1 / n1 - c2 / n2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return z, math.erfc(abs(z) / math.sqrt(2))  # two-sided normal tail


def test_pooled_z_test_matches_the_formula():
    result = two_proportions(30, 100, 45, 120)
    z, p = _z_by_hand(30, 100, 45, 120)
    assert result.name == "z"
    assert result.statistic == pytest.approx(z, rel=1e-9)
    assert result.p_value == pytest.approx(p, rel=1e-9)
    assert round(z, 4) == -1.1686 and round(p, 4) == 0.2426  # by hand: pooled 75/220, se 0.06418


def _fisher_by_hand(table: list[list[int]]) -> float:
    (a, b), (c, d) = table
    r1, c1, n = a + b, a + c, a + b + c + d

    def prob(x: int) -> float:
        return math.comb(c1, x) * math.comb(n - c1, r1 - x) / math.comb(n, r1)

    observed = prob(a)
    support = range(max(0, r1 - (n - c1)), min(r1, c1) + 1)
    return sum(prob(x) for x in support if prob(x) <= observed * (1 + 1e-7))


def test_fisher_when_an_expected_count_is_below_five():
    result = two_proportions(1, 10, 6, 12)  # expected count of the first cell 3.2
    assert result.name == "fisher"
    assert result.p_value == pytest.approx(_fisher_by_hand([[1, 9], [6, 6]]), rel=1e-9)
    assert round(result.p_value, 4) == 0.0743


def test_chi_square_of_a_known_2x2_table():
    # [[20, 30], [30, 20]]: expected 25 everywhere, chi2 = 4 * 25/25 = 4.0, df 1, p = erfc(2 / sqrt 2) = 0.0455.
    result = independence([[20, 30], [30, 20]])
    assert result.name == "chi2" and result.df == 1
    assert result.statistic == pytest.approx(4.0)
    assert result.p_value == pytest.approx(math.erfc(2 / math.sqrt(2)), rel=1e-9)
    assert result.cramers_v == pytest.approx(0.2)  # sqrt(4 / 100)
    assert not result.unreliable


@pytest.fixture
async def copy_engine(db_url, survey):
    engine = create_engine(db_url)
    await upgrade(engine)
    await insert_2020_copy(engine, survey)
    yield engine
    await engine.dispose()


async def test_data_reproducing_2020_give_no_difference(copy_engine, survey):
    comparison = compare(await build_summary(copy_engine, survey), survey)
    assert comparison.respondents == 99 and comparison.base_respondents == 99
    assert len(comparison.questions) == 5
    figures = [f for q in comparison.questions for f in q.figures]
    assert len(figures) == 39
    for f in figures:
        assert (f.count, f.n) == (f.base.count, f.base_n), f.key
        assert f.diff_pp == Decimal("0.0"), f.key
        assert f.test.p_value == pytest.approx(1.0, abs=1e-12), f.key
        assert not f.significant
    tests = {f.test.name for f in figures}
    assert tests == {"z", "fisher"}  # small counts (e.g. 2 of 97) go to Fisher


async def test_comparison_text_keeps_provenance(copy_engine, survey):
    messages = render_comparison(compare(await build_summary(copy_engine, survey), survey))
    assert all(fits(m) for m in messages)
    text = "\n".join(messages)
    assert "Респондентов сейчас: 99 против 99 в 2020." in text
    assert "Сейчас n = 93 · 2020: n = 93 [выведено]" in text
    line = next(x for x in text.splitlines() if x.startswith("Весь аккаунтинг ведем у себя"))
    assert "[допущение]" in line and "опубл." not in line
    ceo = next(x for x in text.splitlines() if x.startswith("Руководитель компании"))
    assert "сейчас 14,0% (13 из 93)" in ceo and "2020: 14,0% (13 из 93; в статье 14%) [опубл.]" in ceo
    assert "Δ ±0,0 п.п. · p = 1 (z-тест)" in ceo
    assert "оценки 4–7: сейчас 77,3% (51 из 66)" in text


async def test_a_real_difference_is_marked(db_url, survey):
    engine = create_engine(db_url)
    await upgrade(engine)
    try:
        await insert_2020_copy(engine, survey)
        # Everybody who answered q01 chose account managers: 93 of 93 against 54 of 93.
        async with engine.begin() as conn:
            from sqlalchemy import update
            await conn.execute(update(Answer).where(Answer.question_id == "q01_who_does_accounting", Answer.skipped == False)  # noqa: E712
                               .values(choices="account_managers", other_text=None))
            await conn.execute(update(AnswerChoice).where(AnswerChoice.question_id == "q01_who_does_accounting")
                               .values(option_id="account_managers"))
            await conn.run_sync(recount)  # answers edited by hand: their counts too (`surveybot migrate --recount`)
        comparison = compare(await build_summary(engine, survey), survey)
    finally:
        await engine.dispose()
    q1 = comparison.questions[0]
    am = next(f for f in q1.figures if f.key == "account_managers")
    assert am.percent == Decimal("100.0") and am.diff_pp == Decimal("41.9")
    z, p = _z_by_hand(93, 93, 54, 93)
    assert am.test.name == "z" and am.test.p_value == pytest.approx(p, rel=1e-6) and am.significant
    text = "\n".join(render_comparison(comparison))
    assert "✱" in next(x for x in text.splitlines() if x.startswith("Аккаунт-менеджеры"))


async def test_paired_chart_and_json(copy_engine, survey):
    summary = await build_summary(copy_engine, survey)
    comparison = compare(summary, survey)
    assert comparison_chart(comparison.questions[3]).startswith(b"\x89PNG\r\n\x1a\n")
    data = add_to_json(summary_to_json(summary), comparison)
    assert data["baseline"]["respondents"] == 99
    q1 = data["questions"][0]
    ceo = next(o for o in q1["options"] if o["id"] == "ceo")
    assert ceo["baseline"] == {"percent": 14.0, "printed": "14%", "count": 13, "n": 93, "computed_percent": 14.0,
                               "provenance": "published", "diff_pp": 0.0, "p_value": 1.0, "test": "z"}
    q5 = data["questions"][4]
    assert next(b for b in q5["buckets"] if b["label"] == "4–7")["baseline"]["count"] == 51
    assert "baseline" not in data["questions"][5]["options"][0]


# Bot and CLI ------------------------------------------------------------------------------


async def test_admin_stats_2020_text_and_paired_charts(make_user, bot):
    _, request = bot
    u = make_user(5101)
    await u.begin()
    await u.press("Аккаунт-менеджеры")
    admin = make_user(ADMIN_ID)
    await admin.send("/stats 2020")
    text = "\n".join(m.text for m in admin.messages())
    assert "Сравнение с волной 2020" in text and "Респондентов сейчас: 1 против 99 в 2020." in text
    assert "Аккаунт-менеджеры: сейчас 100,0% (1 из 1)" in text and "(тест Фишера)" in text
    sent = [p for name, p in request.calls if name in ("sendMediaGroup", "sendPhoto") and int(p["chat_id"]) == ADMIN_ID]
    assert sum(len(p.get("media", [None])) for p in sent) == 5


async def test_non_admin_stats_2020_is_an_unknown_command(make_user, bot):
    from bot.respondent import screens

    _, request = bot
    u = make_user(5102)
    await u.begin()
    before = len(request.calls)
    await u.send("/stats 2020")
    assert [(name, p["text"]) for name, p in request.calls[before:]] == [("sendMessage", RU(screens.UNKNOWN_COMMAND))]


def test_cli_stats_compare_json(tmp_path):
    db = tmp_path / "cli.db"
    url = f"sqlite+aiosqlite:///{db}"

    async def fill() -> None:
        engine = create_engine(url)
        await upgrade(engine)
        await insert_2020_copy(engine, load_survey())
        await engine.dispose()

    import asyncio
    asyncio.run(fill())
    env = {k: v for k, v in os.environ.items() if k not in ("BOT_TOKEN", "SURVEY_FILE")} | {"DATABASE_URL": url}
    out = subprocess.run([sys.executable, "-m", "bot.cli", "stats", "--compare", "--format", "json"], cwd=tmp_path,
                         env=env | {"PYTHONPATH": str(ROOT)}, capture_output=True, text=True, check=True)
    data = json.loads(out.stdout)
    options = [o for q in data["questions"] for o in q["options"] if "baseline" in o]
    assert len(options) == 38  # 39 figures, the 4-7 range is a bucket
    assert all(o["baseline"]["diff_pp"] == 0.0 and o["baseline"]["p_value"] == 1.0 for o in options)
    text = subprocess.run([sys.executable, "-m", "bot.cli", "stats", "--compare"], cwd=tmp_path,
                          env=env | {"PYTHONPATH": str(ROOT)}, capture_output=True, text=True, check=True).stdout
    assert "Сравнение с волной 2020" in text and "[допущение]" in text
