"""Cross-tabs on a hand-made data set whose tables, tests and residuals are worked out by hand below.

100 completed responses. Banner q14 (role): R1-50 owner_ceo (source "ads"), R51-100 account_manager (no source).

* q09 (single): owners 20 full_spec + 30 detailed, AMs 30 + 20 → the 2×2 [[20, 30], [30, 20]]:
  expected 25 everywhere, χ² = 4·(5²/25) = 4.0, df 1, p = erfc(2/√2) = 0.0455, V = √(4/100) = 0.2;
  adjusted residual of owners/full_spec = (20 − 25)/√(25·½·½) = −2.0 → ▼, AMs/full_spec +2.0 → ▲.
* q10 (single): owners 3 lt_15m + 47 lt_1h, AMs 0 + 50 → expected 1.5 < 5 → Fisher's exact test.
* q02 (multiple): owners R1-10 client_communication + upsell, R11-50 consulting; AMs client_communication.
  client_communication: 10 of 50 (20.0 %) vs 50 of 50 (100.0 %) on the respondents' base; its 2×2
  [[10, 50], [40, 0]] has expected 30, 30, 20, 20 → χ² = 2·20²/30 + 2·20²/20 = 66.67.
* q05 (scale): owners 1..5 ten times each (mean 3, median 3), AMs 6..10 (mean 8, median 8).
* q13 (single): owners 48 moscow, 1 spb, 1 other; AMs 50 moscow → 3×2 with 4 of 6 expected counts
  below 5 → chi-square flagged unreliable.
"""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import insert

from analytics.crosstab import CrosstabError, add_to_json, build_crosstabs
from analytics.crosstab_render import render_short, render_table, sheet_rows
from analytics.export import export_xlsx
from analytics.filters import parse_filter
from analytics.messages import fits
from analytics.summary import build_summary, summary_to_json
from storage.db import create_engine
from storage.migrate import upgrade
from storage.models import COMPLETED, Answer, AnswerChoice, Respondent, Response
from survey.i18n import translator
from survey.loader import load_survey
from tests.conftest import ADMIN_ID
from tests.test_compare import _fisher_by_hand

RU = translator("ru").gettext  # the bot's texts as a respondent whose Telegram is in Russian reads them

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _answers(i: int) -> dict[str, tuple[list[str], int | None]]:
    owner = i <= 50
    out = {"q14_role": (["owner_ceo" if owner else "account_manager"], None)}
    if owner:
        out["q09_task_detail"] = (["full_spec" if i <= 20 else "detailed"], None)
        out["q10_response_speed"] = (["lt_15m" if i <= 3 else "lt_1h"], None)
        out["q02_am_functions"] = (["client_communication", "upsell"] if i <= 10 else ["consulting"], None)
        out["q05_subcontractor_rating"] = ([], (i - 1) % 5 + 1)
        out["q13_region"] = (["moscow" if i <= 48 else "spb" if i == 49 else "other"], None)
    else:
        out["q09_task_detail"] = (["full_spec" if i <= 80 else "detailed"], None)
        out["q10_response_speed"] = (["lt_1h"], None)
        out["q02_am_functions"] = (["client_communication"], None)
        out["q05_subcontractor_rating"] = ([], (i - 1) % 5 + 6)
        out["q13_region"] = (["moscow"], None)
    return out


OFFSET = 10_000  # explicit ids far above the ones PostgreSQL's sequences hand to the bot's own respondents


async def insert_roles(engine, survey) -> None:
    answers, choices = [], []
    for i in range(1, 101):
        for qid, (opts, number) in _answers(i).items():
            answers.append({"response_id": OFFSET + i, "question_id": qid, "choices": ",".join(opts) or None, "number": number,
                            "text": None, "other_text": "Казахстан" if opts == ["other"] else None, "skipped": False,
                            "answered_at": T0})
            choices += [{"response_id": OFFSET + i, "question_id": qid, "option_id": o} for o in opts]
    async with engine.begin() as conn:
        await conn.execute(insert(Respondent), [{"id": OFFSET + i, "user_key": f"r{i}", "first_seen": T0,
                                                 "source": "ads" if i <= 50 else None} for i in range(1, 101)])
        await conn.execute(insert(Response), [
            {"id": OFFSET + i, "respondent_id": OFFSET + i, "survey_id": survey.id, "survey_version": 1, "status": COMPLETED,
             "started_at": T0, "completed_at": T0, "updated_at": T0, "awaiting_other": False, "version": 1}
            for i in range(1, 101)])
        await conn.execute(insert(Answer), answers)
        await conn.execute(insert(AnswerChoice), choices)


@pytest.fixture
def survey():
    return load_survey()


@pytest.fixture
async def engine(db_url, survey):
    eng = create_engine(db_url)
    await upgrade(eng)
    await insert_roles(eng, survey)
    yield eng
    await eng.dispose()


async def table(engine, survey, row: str, banner: str = "14", **kw):
    return (await build_crosstabs(engine, survey, banner, [row], **kw))[0]


async def test_single_choice_2x2_chi_square_and_residuals(engine, survey):
    t = await table(engine, survey, "9")
    assert [c.key for c in t.banner.columns][:2] == ["owner_ceo", "account_director"]
    owners, ams = 0, 2  # column positions of owner_ceo and account_manager
    assert (t.bases[owners], t.bases[ams], t.total_base) == (50, 50, 100)
    full = t.rows[0]
    assert (full.cells[owners].count, full.cells[owners].percent, full.cells[owners].mark) == (20, Decimal("40.0"), "▼")
    assert (full.cells[ams].count, full.cells[ams].percent, full.cells[ams].mark) == (30, Decimal("60.0"), "▲")
    assert (full.total.count, full.total.percent) == (50, Decimal("50.0"))
    assert t.test.name == "chi2" and t.test.df == 1
    assert t.test.statistic == pytest.approx(4.0)
    assert t.test.p_value == pytest.approx(math.erfc(2 / math.sqrt(2)), rel=1e-9)
    assert t.test.cramers_v == pytest.approx(0.2)
    assert not t.test.unreliable
    text = render_table(t)
    assert fits(text)
    assert "хи-квадрат: χ² = 4,00, df = 1, p = 0,046, V Крамера = 0,20" in text
    assert "40,0▼" in text and "60,0▲" in text
    assert "A — Собственник / руководитель компании (n = 50)" in text


async def test_sparse_2x2_goes_to_fisher(engine, survey):
    t = await table(engine, survey, "10")
    assert t.test.name == "fisher"
    assert t.test.p_value == pytest.approx(_fisher_by_hand([[3, 0], [47, 50]]), rel=1e-9)
    assert "точный тест Фишера" in render_table(t)


async def test_multiple_choice_on_the_respondents_base(engine, survey):
    t = await table(engine, survey, "2")
    cc = next(r for r in t.rows if r.key == "client_communication")
    assert (cc.cells[0].count, cc.cells[0].percent) == (10, Decimal("20.0"))
    assert (cc.cells[2].count, cc.cells[2].percent) == (50, Decimal("100.0"))
    assert (cc.total.count, cc.total.percent) == (60, Decimal("60.0"))  # of 100 respondents, not of 110 selections
    assert cc.test.name == "chi2" and cc.test.statistic == pytest.approx(2 * 20**2 / 30 + 2 * 20**2 / 20)
    assert cc.cells[0].mark == "▼" and cc.cells[2].mark == "▲"
    upsell = next(r for r in t.rows if r.key == "upsell")
    assert upsell.cells[0].percent == Decimal("20.0") and upsell.cells[2].percent == Decimal("0.0")
    nothing = next(r for r in t.rows if r.key == "web_analytics")
    assert nothing.test is None  # an option nobody chose has nothing to test
    assert not fits(render_table(t))  # 23 options x 8 columns: the chat gets a file and this summary
    short = render_short(t)
    assert fits(short) and "Вариантов со значимыми различиями между столбцами: 3 из 23." in short
    assert "• Коммуникации с клиентами — A: 20,0% ▼ (Все: 60,0%)" in short


async def test_scale_means_medians_and_kruskal(engine, survey):
    t = await table(engine, survey, "5")
    assert (t.means[0], t.medians[0], t.means[2], t.medians[2]) == (Decimal("3"), Decimal("3"), Decimal("8"), Decimal("8"))
    assert t.means[-1] == Decimal("5.5")
    assert t.test.name == "kruskal" and t.test.df == 1 and t.test.p_value < 0.001
    assert "тест Краскела–Уоллиса" in render_table(t)


async def test_unreliable_when_many_expected_counts_are_small(engine, survey):
    t = await table(engine, survey, "13")
    assert t.test.name == "chi2" and t.test.unreliable and t.test.low_expected_share == pytest.approx(4 / 6)
    assert "больше 20% ожидаемых частот меньше 5 — тест ненадёжен (67%)" in render_table(t)


async def test_by_source_and_with_a_filter(engine, survey):
    t = await table(engine, survey, "9", banner="source")
    assert [(c.key, c.label) for c in t.banner.columns] == [("", "без метки"), ("ads", "ads")] or \
        [(c.key, c.label) for c in t.banner.columns] == [("ads", "ads"), ("", "без метки")]
    assert t.test.statistic == pytest.approx(4.0)
    f = parse_filter("9=1", survey)  # full_spec only: 20 owners, 30 AMs
    t = await table(engine, survey, "2", where=f)
    assert (t.bases[0], t.bases[2], t.total_base) == (20, 30, 50)
    assert "Фильтр: 9 = Подробное ТЗ с критериями приемки" in render_table(t, f.describe(translator("ru")))


async def test_refusals(engine, survey):
    assert (await table(engine, survey, "1", banner="12")).banner.columns[0].label == "1–5"  # number buckets
    with pytest.raises(CrosstabError, match="split by itself") as err:  # str(): English, for logs and the CLI
        await build_crosstabs(engine, survey, "1", ["1"])
    assert "по самому себе" in err.value.text(translator("ru"))  # as the admin reads it
    with pytest.raises(CrosstabError, match="not in the questionnaire|no question") as err:
        await build_crosstabs(engine, survey, "99", ["1"])
    assert "нет в анкете" in err.value.text(translator("ru"))


async def test_json_segments_and_tests(engine, survey):
    data = summary_to_json(await build_summary(engine, survey))
    add_to_json(data, await build_crosstabs(engine, survey, "14"))
    assert data["banner"]["id"] == "q14_role"
    q9 = next(q for q in data["questions"] if q["id"] == "q09_task_detail")
    assert q9["segments"]["owner_ceo"]["n"] == 50
    assert q9["segments"]["owner_ceo"]["options"][0] == {"id": "full_spec", "label": "Подробное ТЗ с критериями приемки",
                                                         "count": 20, "percent": 40.0, "mark": "▼"}
    assert q9["test"]["name"] == "chi2" and q9["test"]["df"] == 1 and q9["test"]["cramers_v"] == pytest.approx(0.2)
    q5 = next(q for q in data["questions"] if q["id"] == "q05_subcontractor_rating")
    assert q5["segments"]["account_manager"]["mean"] == 8.0 and q5["test"]["name"] == "kruskal"
    q2 = next(q for q in data["questions"] if q["id"] == "q02_am_functions")
    assert q2["test"] is None and q2["options"][0]["test"]["name"] == "chi2"
    assert "segments" not in next(q for q in data["questions"] if q["id"] == "q14_role")


async def test_xlsx_export_by_banner(engine, survey):
    out = io.BytesIO()
    await export_xlsx(engine, survey, out, banner="14")
    book = load_workbook(io.BytesIO(out.getvalue()), read_only=True)
    assert book.sheetnames == ["Ответы", "Анкета", "Сводка", "Кодбук", "По вопросу 14"]
    cells = [c for row in book["По вопросу 14"].iter_rows(values_only=True) for c in row if c is not None]
    assert "9. Подробность постановки задач × 14. Роль респондента" in cells
    assert "хи-квадрат: χ² = 4,00, df = 1, p = 0,046, V Крамера = 0,20" in cells
    assert sheet_rows([])[-1][0].startswith("▲ / ▼")


# In the chat ----------------------------------------------------------------------------


@pytest.fixture
async def filled_bot(bot, survey):
    app, request = bot
    await insert_roles(app.bot_data.engine, survey)
    return app, request


async def test_admin_crosstab_text(make_user, filled_bot):
    admin = make_user(ADMIN_ID)
    await admin.send("/stats 9 by 14")
    (message,) = admin.messages()
    assert "9. Подробность постановки задач × 14. Роль респондента" in message.text
    assert "χ² = 4,00" in message.text and fits(message.text)


async def test_admin_long_crosstab_goes_as_a_file(make_user, filled_bot):
    _, request = filled_bot
    admin = make_user(ADMIN_ID)
    before = len(request.calls)
    await admin.send("/stats 2 by 14")
    new = request.calls[before:]
    (text,) = [p["text"] for n, p in new if n == "sendMessage"]
    assert fits(text) and "Таблица целиком — в файле." in text
    ((name, content),) = [p for n, p in new if n == "sendDocument"][0]["_files"].values()
    rows = list(load_workbook(io.BytesIO(content), read_only=True)["Таблицы"].iter_rows(values_only=True))
    assert rows[0][0] == "2. Функции аккаунт-менеджера × 14. Роль респондента"
    cc = next(r for r in rows if r[0] == "Коммуникации с клиентами")
    assert cc[1:3] == (20.0, 10) and cc[5:7] == (100.0, 50)  # owners, then account managers: % and count


async def test_admin_all_questions_by_banner_as_xlsx(make_user, filled_bot):
    _, request = filled_bot
    admin = make_user(ADMIN_ID)
    before = len(request.calls)
    await admin.send("/stats by 14")
    new = request.calls[before:]
    texts = [p["text"] for n, p in new if n == "sendMessage"]
    assert texts and all(fits(t) for t in texts)
    assert "Все вопросы × 14. Роль респондента" in texts[0]
    assert "9. Подробность постановки задач (n = 100) — хи-квадрат: χ² = 4,00" in "\n".join(texts)
    docs = [p for n, p in new if n == "sendDocument"]
    ((name, content),) = docs[0]["_files"].values()
    assert name.endswith("_by_14.xlsx") and content.startswith(b"PK")


async def test_admin_export_xlsx_by_banner(make_user, filled_bot):
    _, request = filled_bot
    admin = make_user(ADMIN_ID)
    before = len(request.calls)
    await admin.send("/export xlsx by 14")
    docs = [p for n, p in request.calls[before:] if n == "sendDocument"]
    assert len(docs) == 1
    ((_, content),) = docs[0]["_files"].values()
    assert "По вопросу 14" in load_workbook(io.BytesIO(content), read_only=True).sheetnames


async def test_admin_crosstab_errors_and_empty_filter(make_user, filled_bot):
    _, request = filled_bot
    admin = make_user(ADMIN_ID)
    for command, expected in [
        ("/stats 9 by 99", "Таблицу не построить: вопроса «99» нет в анкете"),
        ("/stats 9 by 14 where 13=3", "Под фильтр «13 = Другой город-миллионник России» не попал ни один респондент"),
        ("/stats 9 by", "Не понял запрос: после by нужен вопрос"),
    ]:
        before = len(request.calls)
        await admin.send(command)
        (text,) = [p["text"] for n, p in request.calls[before:] if n == "sendMessage"]
        assert text.startswith(expected), text


@pytest.mark.parametrize("command", ["/stats 9 by 14", "/stats by 14", "/export xlsx by 14"])
async def test_non_admin_crosstab_is_an_unknown_command(make_user, filled_bot, command):
    from bot.respondent import screens

    _, request = filled_bot
    u = make_user(7001)
    await u.begin()
    before = len(request.calls)
    await u.send(command)
    assert [(n, p["text"]) for n, p in request.calls[before:]] == [("sendMessage", RU(screens.UNKNOWN_COMMAND))]


def test_cli_by_where_and_bad_filter(tmp_path):
    import asyncio
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"

    async def fill() -> None:
        engine = create_engine(url)
        await upgrade(engine)
        await insert_roles(engine, load_survey())
        await engine.dispose()

    asyncio.run(fill())
    env = {k: v for k, v in os.environ.items() if k not in ("BOT_TOKEN", "SURVEY_FILE")}
    env |= {"DATABASE_URL": url, "PYTHONPATH": str(root)}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "bot.cli", "stats", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True)

    data = json.loads(cli("--by", "q14_role", "--where", "9=1", "--format", "json").stdout)
    assert data["filter"] == "9 = Подробное ТЗ с критериями приемки" and data["started"] == 50
    q2 = next(q for q in data["questions"] if q["id"] == "q02_am_functions")
    assert (q2["segments"]["owner_ceo"]["n"], q2["segments"]["account_manager"]["n"]) == (20, 30)
    text = cli("--by", "14").stdout
    assert "9. Подробность постановки задач × 14. Роль респондента" in text and "χ² = 4,00" in text
    bad = cli("--where", "9=42")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "question 9 has no option «42»" in bad.stderr
    bad = cli("--by", "99")
    assert bad.returncode == 2 and "there is no question «99» in the questionnaire" in bad.stderr
