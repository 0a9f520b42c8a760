"""Test mode: admins take the survey as respondents; test answers stay out of stats, charts, funnel, exports
and the quota unless asked (/stats test), and /test reset lets them run it again."""

from __future__ import annotations

import io

import pandas as pd
import pyreadstat

from analytics.crosstab import build_crosstabs
from analytics.jobs import export_bytes
from analytics.summary import build_summary
from bot.admin import testmode
from bot.respondent import screens
from survey.i18n import translator
from tests.conftest import ADMIN_ID
from tests.dbcheck import fetch
from tests.harness import running_app
from tests.recording import SimUser
from tests.test_field_state import field_settings, one_question

RU = translator("ru").gettext  # the bot's texts as a respondent whose Telegram is in Russian reads them


async def finish(u: SimUser, size: str = "3") -> None:
    await u.press("Разработчик")
    await u.send(size)
    assert "Спасибо" in u.last().text


async def test_test_runs_are_kept_apart(db_url, tmp_path):
    path = one_question(tmp_path, "s.yaml", quota=1)
    async with running_app(field_settings(db_url, path)) as (app, request):
        admin = SimUser(app, request, ADMIN_ID)
        await admin.send("/close")  # admins can try the questionnaire even while it is closed
        await admin.send("/test")
        assert admin.messages()[-2].text == RU(testmode.TEST_LEAD) and "Кто вы?" in admin.last().text
        await finish(admin, "7")
        await admin.send("/open")
        real = SimUser(app, request, 8301)
        await real.begin()
        await finish(real)  # the quota of one is not taken by the test run
        engine, survey = app.bot_data.engine, app.bot_data.survey
        summary = await build_summary(engine, survey)
        assert (summary.started, summary.completed) == (1, 1)
        assert summary.question("f_size").distribution == [(3, 1)]
        assert [f.reached for f in summary.funnel] == [1, 1]
        test_summary = await build_summary(engine, app.bot_data.test_service.survey)
        assert (test_summary.started, test_summary.question("f_size").distribution) == (1, [(7, 1)])
        table = pd.read_csv(io.BytesIO(await export_bytes(db_url, survey, "csv")), encoding="utf-8-sig", dtype=str)
        assert list(table["respondent"]) == ["8301"]
        # Every other reader of the answers too: XLSX, SPSS, and the cross-tabs.
        sheet = pd.read_excel(io.BytesIO(await export_bytes(db_url, survey, "xlsx")), sheet_name="Ответы", dtype=str)
        assert list(sheet["respondent"]) == ["8301"]
        sav = tmp_path / "answers.sav"
        sav.write_bytes(await export_bytes(db_url, survey, "sav"))
        frame, _meta = pyreadstat.read_sav(str(sav))
        assert list(frame["respondent"]) == ["8301"] and list(frame["f_size"]) == [3]
        (table_by_role,) = await build_crosstabs(engine, survey, "1", ["2"])
        assert table_by_role.total_base == 1
        await admin.send("/stats")
        full = "\n".join(m.text for m in admin.messages()[-3:])
        assert "Разработчик — 1 (100,0%)" in full
        await admin.send("/stats test")
        assert "Тестовые ответы" in admin.messages()[-2].text or "Тестовые ответы" in admin.messages()[-3].text
        assert "Разработчик — 1 (100,0%)" in admin.last().text
        await admin.send("/test")
        assert admin.last().text == RU(testmode.TEST_DONE)
        await admin.send("/test resett")  # a typo is explained and deletes nothing
        assert admin.last().text == RU(testmode.TEST_USAGE)
        assert fetch(db_url, "SELECT count(*) AS n FROM responses WHERE survey_id = 'field__test'")[0]["n"] == 1
        await admin.send("/test reset")
        assert admin.last().text == RU(testmode.TEST_RESET)
        assert fetch(db_url, "SELECT count(*) AS n FROM responses WHERE survey_id = 'field__test'")[0]["n"] == 0
        await admin.send("/start test")
        assert "Кто вы?" in admin.last().text
        await admin.press("Менеджер")  # the tap goes to the test run in progress
        stranger = SimUser(app, request, 8302)
        await stranger.send("/test")
        assert stranger.last().text == RU(screens.UNKNOWN_COMMAND)
        await stranger.send("/start test")  # for respondents "test" is only a link tag
        assert "Начать" in str(stranger.last().keyboard)
    rows = fetch(db_url, "SELECT survey_id, status FROM responses ORDER BY id")
    assert [(r["survey_id"], r["status"]) for r in rows] == [("field", "completed"), ("field__test", "in_progress")]
