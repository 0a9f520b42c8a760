"""Analytics: summary numbers against a hand-made data set, rendering limits, exports, charts."""

from __future__ import annotations

import dataclasses
import io
import platform
import sys
from decimal import Decimal

import openpyxl
import pandas as pd
import pytest

from analytics.cells import neutralize
from analytics.charts import funnel_chart, question_chart, question_figure
from analytics.codebook import variables
from analytics.export import export_csv, export_xlsx
from analytics.jobs import release_freed_memory
from analytics.messages import fits
from analytics.summary import build_summary, percent, scale_groups, summary_to_json, wilson_interval
from analytics.summary_text import (
    MULTIPLE_NOTE,
    render_funnel,
    render_other_texts,
    render_question,
    render_summary,
)
from storage.db import create_engine
from storage.migrate import upgrade
from survey.i18n import translator
from survey.loader import load_survey
from tests.analytics_data import HYPERLINK, insert_fixed

RU = translator("ru").gettext  # the bot's texts as a respondent whose Telegram is in Russian reads them

PNG = b"\x89PNG\r\n\x1a\n"
Q01, Q02, Q03, Q05, Q12, Q13 = (
    "q01_who_does_accounting",
    "q02_am_functions",
    "q03_org_structure",
    "q05_subcontractor_rating",
    "q12_company_size",
    "q13_region",
)


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


@pytest.fixture
async def summary(engine, survey):
    return await build_summary(engine, survey)


# Helpers --------------------------------------------------------------------------------


def test_percent_rounds_half_up():
    assert percent(54, 93) == Decimal("58.1")
    assert percent(1, 8) == Decimal("12.5")
    assert percent(2, 3) == Decimal("66.7")
    assert percent(1, 3) == Decimal("33.3")
    assert percent(1, 16) == Decimal("6.3")  # 6.25 -> 6.3, not banker's 6.2
    assert percent(0, 0) is None


def test_scale_groups_generalise():
    assert scale_groups(1, 10) == [("low", 1, 3), ("middle", 4, 7), ("high", 8, 10)]
    assert scale_groups(1, 5) == [("low", 1, 2), ("middle", 3, 3), ("high", 4, 5)]
    assert scale_groups(0, 10) == [("low", 0, 2), ("middle", 3, 7), ("high", 8, 10)]
    assert scale_groups(1, 2) == [("low", 1, 1), ("high", 2, 2)]


def test_wilson_interval():
    low, high = wilson_interval(2, 3)
    assert (low, high) == (Decimal("20.8"), Decimal("93.9"))
    assert wilson_interval(0, 0) is None


# Summary --------------------------------------------------------------------------------


async def test_header(summary):
    assert (summary.started, summary.completed, summary.in_progress) == (100, 90, 10)
    assert summary.completion_rate == Decimal("90.0")
    assert summary.median_completion_seconds == pytest.approx(2730.0, abs=0.01)  # (45+46)/2 minutes
    assert summary.first_answer_at.isoformat() == "2026-03-01T10:01:01+00:00"
    assert summary.last_answer_at.isoformat() == "2026-03-01T11:37:01+00:00"  # R97, in progress


async def test_single_choice(summary):
    q = summary.question(Q01)
    assert (q.n, q.skipped, q.not_reached) == (93, 4, 3)
    counts = {o.id: (o.count, o.percent) for o in q.options}
    assert counts == {
        "account_managers": (54, Decimal("58.1")),
        "ceo": (20, Decimal("21.5")),
        "executors": (10, Decimal("10.8")),
        "dept_or_group_head": (4, Decimal("4.3")),
        "other": (5, Decimal("5.4")),
    }
    assert [o.id for o in q.options][-1] == "other" and q.options[-1].label == "Прочее (укажите)"
    assert len(q.other_texts) == 5 and HYPERLINK in q.other_texts  # R101 (other survey) not counted


async def test_multiple_choice_base_is_respondents(summary):
    q = summary.question(Q02)
    assert (q.n, q.skipped, q.not_reached) == (8, 82, 10)
    counts = {o.id: o.count for o in q.options if o.count}
    assert counts == {"client_communication": 6, "consulting": 3, "upsell": 2, "reporting": 2, "invoicing": 1, "other": 2}
    by_id = {o.id: o.percent for o in q.options}
    assert by_id["invoicing"] == Decimal("12.5")
    assert by_id["client_communication"] == Decimal("75.0")
    assert by_id["critical_situations"] == Decimal("0.0")  # zero-count options listed too
    assert len(q.options) == 23
    assert sum(o.percent for o in q.options) == Decimal("200.0")
    assert q.other_texts == ["Ведение соцсетей", "-1+1"]


async def test_two_of_three(summary):
    q = summary.question(Q03)
    assert q.n == 3
    assert {o.id: o.percent for o in q.options if o.count} == {"account_director": Decimal("66.7"), "no_account_dept": Decimal("33.3")}


async def test_scale(summary):
    q = summary.question(Q05)
    assert (q.n, q.skipped) == (12, 78)
    assert q.mean == Decimal("6.25")
    assert q.median == Decimal("6.5")
    assert [o.count for o in q.options] == [1, 1, 1, 1, 1, 1, 1, 1, 1, 3]
    assert [(g.label, g.count, g.percent) for g in q.groups] == [
        ("1–3", 3, Decimal("25.0")),
        ("4–7", 4, Decimal("33.3")),
        ("8–10", 5, Decimal("41.7")),
    ]


async def test_number_buckets(summary):
    q = summary.question(Q12)
    assert q.n == 8
    assert q.mean == Decimal("55.375")
    assert q.median == Decimal("15.5")
    assert [(b.label, b.count, b.percent) for b in q.buckets] == [
        ("1–5", 2, Decimal("25.0")),
        ("6–15", 2, Decimal("25.0")),
        ("16–30", 1, Decimal("12.5")),
        ("31–50", 1, Decimal("12.5")),
        ("51–100", 1, Decimal("12.5")),
        ("101+", 1, Decimal("12.5")),
    ]


async def test_funnel(summary):
    steps = {s.id: s for s in summary.funnel}
    assert dataclasses.astuple(steps[Q01])[3:] == (100, 93, 4, 3)
    assert dataclasses.astuple(steps[Q02])[3:] == (97, 8, 82, 7)
    assert dataclasses.astuple(steps[Q03])[3:] == (90, 3, 87, 0)


async def test_completed_only(engine, survey):
    s = await build_summary(engine, survey, completed_only=True)
    assert s.completed_only and (s.started, s.completed, s.in_progress) == (100, 90, 10)
    q = s.question(Q01)
    assert (q.n, q.skipped, q.not_reached) == (90, 0, 0)
    assert {o.id: o.count for o in q.options}["other"] == 2
    assert {o.id: o.percent for o in q.options}["account_managers"] == Decimal("60.0")
    assert q.other_texts == ["Руководитель + помощница", HYPERLINK]
    assert s.question(Q02).not_reached == 0
    assert s.last_answer_at.isoformat() == "2026-03-01T11:30:14+00:00"  # R90's last (skipped) answer
    # The funnel always covers every response.
    assert dataclasses.astuple(s.funnel[0])[3:] == (100, 93, 4, 3)


async def test_only_this_survey_counts(engine, survey):
    other = survey.model_copy(update={"survey": survey.survey.model_copy(update={"id": "another_survey"})})
    s = await build_summary(engine, other)
    assert (s.started, s.completed) == (1, 1)
    assert s.question(Q01).n == 1 and s.question(Q01).not_reached == 0


async def test_json_shape(summary):
    data = summary_to_json(summary)
    assert set(data) == {
        "survey", "completed_only", "started", "completed", "in_progress", "completion_rate",
        "median_completion_seconds", "first_answer_at", "last_answer_at", "questions", "funnel", "filter", "reminders",
        "removed_questions",
    }
    assert data["survey"] == {"id": "manao_accounting_digital", "version": 1, "title": summary.title}
    assert data["completion_rate"] == 90.0
    q = data["questions"][0]
    assert set(q) == {
        "id", "number", "title", "type", "n", "skipped", "not_reached", "options", "other_texts", "mean", "median", "buckets",
    }
    assert q["options"][0] == {"id": "account_managers", "label": "Аккаунт-менеджеры", "count": 54, "percent": 58.1}
    assert q["mean"] is None and q["buckets"] == []
    q12 = data["questions"][11]
    assert q12["mean"] == 55.375 and q12["buckets"][0] == {"label": "1–5", "count": 2, "percent": 25.0}
    assert set(data["funnel"][0]) == {"id", "number", "reached", "answered", "skipped", "dropped"}
    import json

    json.dumps(data)  # serialisable as is


# Rendering ------------------------------------------------------------------------------


async def test_render_summary(summary):
    messages = render_summary(summary)
    text = "\n".join(messages)
    assert all(fits(m) for m in messages)
    assert "Начали: 100" in text and "Завершили: 90" in text and "В процессе: 10" in text
    assert "Доля завершивших: 90,0%" in text
    assert "Медианное время прохождения: 45 мин 30 с" in text
    assert "<b>1. Кто выполняет функции аккаунтинга</b>" in text
    assert "n = 93 (пропустили: 4, не дошли: 3)" in text
    assert "Аккаунт-менеджеры — 54 (58,1%)" in text
    assert "Выставление счетов — 1 (12,5%)" in text
    assert "Есть аккаунт-директор (руководитель аккаунт-отдела) и аккаунт-менеджеры — 2 (66,7%)" in text
    assert RU(MULTIPLE_NOTE) in text
    assert "Среднее 6,3 · медиана 6,5" in text  # 6.25 rounds half up
    assert "Среднее 55,4 · медиана 15,5" in text
    assert "Высокие оценки (8–10) — 5 (41,7%)" in text
    assert "101+ — 1 (12,5%)" in text
    assert "Проджект &lt;b&gt;&amp;&lt;/b&gt; аккаунт" in text and "<b>&</b>" not in text
    assert "Незавершённые анкеты учтены" in text


async def test_render_completed_only(engine, survey):
    text = "\n".join(render_summary(await build_summary(engine, survey, completed_only=True)))
    assert "Учтены только завершённые анкеты (90)" in text


async def test_render_limits_with_many_long_other_texts(summary):
    long_texts = [f"{i:03d} <&> " + "ы" * 290 for i in range(500)]
    q01 = dataclasses.replace(summary.question(Q01), other_texts=long_texts)
    big = dataclasses.replace(summary, questions=[q01, *summary.questions[1:]])
    for messages in (render_summary(big), render_question(big, 1), render_other_texts(big, Q01)):
        assert messages and all(fits(m) for m in messages)
    full = render_other_texts(big, Q01)
    assert len(full) > 30  # 500 x 300 characters do not fit in a few messages
    joined = "\n".join(full)
    assert all(f"{i + 1}. {i:03d} &lt;&amp;&gt;" in joined for i in range(500))
    # A single gigantic text is split, never cut mid-entity or beyond the limit.
    huge = dataclasses.replace(q01, other_texts=["&" * 5000])
    msgs = render_other_texts(dataclasses.replace(summary, questions=[huge]), Q01)
    assert all(fits(m) for m in msgs) and "".join(msgs).count("&amp;") == 5000


async def test_render_question_and_funnel(summary):
    detail = "\n".join(render_question(summary, 3))
    assert "95% ДИ 20,8–93,9%" in detail  # n = 3 < 30
    assert "95% ДИ" not in "\n".join(render_question(summary, 1))  # n = 93
    funnel = "\n".join(render_funnel(summary))
    assert "1. Кто выполняет функции аккаунтинга — дошли 100 (100,0%), ответили 93, пропустили 4, остановились 3" in funnel


# Charts ---------------------------------------------------------------------------------


def _bars(fig) -> int:
    return len(fig.axes[0].patches)


async def test_charts(summary):
    assert _bars(question_figure(summary.question(Q01))) == 5  # 4 options + other
    assert _bars(question_figure(summary.question(Q02))) == 23
    assert _bars(question_figure(summary.question(Q05))) == 10  # scale points
    assert _bars(question_figure(summary.question(Q12))) == 6  # buckets
    assert question_figure(summary.question(Q01)).axes[0].get_title(loc="left") == (
        "1. Кто выполняет функции аккаунтинга (n = 93)"
    )
    png = question_chart(summary.question(Q01))
    assert png.startswith(PNG)
    assert funnel_chart(summary).startswith(PNG)


# Exports --------------------------------------------------------------------------------


async def test_csv_round_trip(engine, survey):
    buf = io.BytesIO()
    assert await export_csv(engine, survey, buf) == 100
    raw = buf.getvalue()
    assert raw.startswith(b"\xef\xbb\xbf")
    df = pd.read_csv(io.BytesIO(raw), encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert list(df.columns) == [v.name for v in variables(survey)]
    assert len(df) == 100 and set(df["status"]) == {"completed", "in_progress"}
    r1 = df.set_index("response_id").loc["1"]
    assert r1["respondent"] == "u001"
    assert r1[Q01] == "Аккаунт-менеджеры" and r1[f"{Q01}__code"] == "1"
    assert r1[Q02] == "Коммуникации с клиентами; Консультирование по всем вопросам, связанным с услугами; Допродажи"
    assert r1[f"{Q02}__client_communication"] == "1" and r1[f"{Q02}__reporting"] == "0"
    assert r1[Q05] == "1" and r1[Q12] == "1"
    assert r1["started_at"] == "2026-03-01T13:01:00+03:00"  # ISO 8601 in TIMEZONE (Europe/Moscow)
    rows = df.set_index("response_id")
    assert rows.loc["90", f"{Q01}__other"] == "'" + HYPERLINK  # neutralised
    assert rows.loc["8", f"{Q02}__other"] == "'-1+1"
    assert rows.loc["93", f"{Q01}__other"] == "'@everyone"
    assert rows.loc["3", f"{Q02}__other_selected"] == "1"
    # Skipped: empty cells (flags too), listed in skipped_questions; never reached: empty, not listed.
    assert rows.loc["9", Q02] == "" and rows.loc["9", f"{Q02}__consulting"] == ""
    assert Q02 in rows.loc["9", "skipped_questions"].split("; ")
    assert rows.loc["98", Q01] == "" and rows.loc["98", "skipped_questions"] == ""
    assert rows.loc["94", "skipped_questions"] == Q01
    numeric = pd.read_csv(io.BytesIO(raw), encoding="utf-8-sig")
    assert numeric[Q12].dropna().tolist() == [1, 5, 6, 15, 16, 50, 100, 250]


async def test_csv_completed_only_and_pseudonyms(engine, survey, tmp_path):
    path = tmp_path / "out.csv"
    n = await export_csv(engine, survey, path, completed_only=True, pseudonymize=lambda k: "p-" + k[::-1])
    df = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert n == 90 and len(df) == 90 and set(df["status"]) == {"completed"}
    assert df["respondent"].iloc[0] == "p-100u"
    assert "u001" not in path.read_text(encoding="utf-8-sig")


async def test_xlsx_round_trip(engine, survey, tmp_path):
    path = tmp_path / "out.xlsx"
    assert await export_xlsx(engine, survey, path) == 100
    wb = openpyxl.load_workbook(path, read_only=True)
    assert wb.sheetnames == ["Ответы", "Анкета", "Сводка", "Кодбук"]
    rows = list(wb["Ответы"].iter_rows(values_only=True))
    header, data = list(rows[0]), rows[1:]
    assert header == [v.name for v in variables(survey)] and len(data) == 100
    by_id = {r[header.index("response_id")]: dict(zip(header, r)) for r in data}
    r1 = by_id[1]
    assert r1[Q01] == "Аккаунт-менеджеры" and r1[f"{Q01}__code"] == 1
    assert r1[Q05] == 1 and isinstance(r1[Q05], int)
    assert by_id[8][Q12] == 250 and isinstance(by_id[8][Q12], int)
    assert r1[f"{Q02}__consulting"] == 1 and r1[f"{Q02}__reporting"] == 0
    assert r1["started_at"].isoformat() == "2026-03-01T13:01:00"  # a date cell in Europe/Moscow
    assert by_id[90][f"{Q01}__other"] == HYPERLINK  # text as text: an XLSX cell is never a formula
    assert by_id[9][Q02] is None and by_id[9][f"{Q02}__consulting"] is None
    assert by_id[95]["status"] == "in_progress"
    questionnaire = list(wb["Анкета"].iter_rows(values_only=True))
    assert questionnaire[1][:3] == (1, Q01, "один вариант") and questionnaire[1][4:] == ("account_managers", "Аккаунт-менеджеры")
    summary_rows = list(wb["Сводка"].iter_rows(values_only=True))
    assert (1, "Кто выполняет функции аккаунтинга", "Аккаунт-менеджеры", 54, 58.1, 93, 4, 3) in summary_rows
    wb.close()

    assert await export_xlsx(engine, survey, tmp_path / "done.xlsx", completed_only=True) == 90


def test_neutralize():
    assert neutralize("=1+1") == "'=1+1"
    assert neutralize("+7 999") == "'+7 999"
    assert neutralize("-5") == "'-5"
    assert neutralize("@x") == "'@x"
    assert neutralize("\tx") == "'\tx"
    assert neutralize("\rx") == "'\rx"
    assert neutralize("обычный текст") == "обычный текст"


# Other question shapes ------------------------------------------------------------------

MINI = {
    "survey": {"id": "mini", "title": "Мини-опрос"},
    "questions": [
        {"id": "rate", "type": "scale", "text": "Оценка 1–5", "scale": {"min": 1, "max": 5}},
        {"id": "age", "type": "number", "text": "Сколько лет компании?"},
        {"id": "note", "type": "text", "text": "Комментарий"},
    ],
}


async def test_scale_number_text_without_extras(tmp_path):
    from sqlalchemy import insert

    from storage.models import Answer, Respondent, Response
    from survey.loader import parse_survey

    mini = parse_survey(MINI)
    eng = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'mini.db'}")
    await upgrade(eng)
    ages = list(range(1, 41))  # 40 distinct values: the chart falls back to ranges
    async with eng.begin() as conn:
        await conn.execute(insert(Respondent), [{"id": i, "user_key": f"m{i}"} for i in range(1, 41)])
        await conn.execute(
            insert(Response),
            [{"id": i, "respondent_id": i, "survey_id": "mini", "survey_version": 1, "status": "completed", "awaiting_other": False, "version": 1} for i in range(1, 41)],
        )
        rows = []
        for i in range(1, 41):
            blank = {"response_id": i, "number": None, "text": None, "skipped": False}
            rows.append(blank | {"question_id": "rate", "number": 1 + i % 5})
            rows.append(blank | {"question_id": "age", "number": ages[i - 1]})
            rows.append(blank | {"question_id": "note", "text": "+просто текст" if i == 1 else None, "skipped": i != 1})
        await conn.execute(insert(Answer), rows)
    try:
        s = await build_summary(eng, mini)
        rate, age, note = s.questions
        assert [g.label for g in rate.groups] == ["1–2", "3", "4–5"] and [g.count for g in rate.groups] == [16, 8, 16]
        assert age.mean == Decimal("20.5") and age.median == Decimal("20.5") and age.buckets == []
        assert (note.n, note.skipped, note.other_texts) == (1, 39, ["+просто текст"])
        text = "\n".join(render_summary(s))
        assert "Минимум 1 · максимум 40" in text and "«+просто текст»" in text
        assert len(question_figure(age).axes[0].patches) == 10
        assert question_chart(note).startswith(PNG)  # no bars, still an image
        buf = io.BytesIO()
        assert await export_xlsx(eng, mini, buf) == 40
        wb = openpyxl.load_workbook(io.BytesIO(buf.getvalue()), read_only=True)
        data = list(wb["Ответы"].iter_rows(values_only=True))
        questions = data[0].index("rate")
        assert data[0][questions:questions + 3] == ("rate", "age", "note") and data[1][questions + 2] == "+просто текст"
        assert data[0][questions + 3] == "consent_version" and data[1][questions + 3] is None  # no consent step
    finally:
        await eng.dispose()


def test_pack_blocks_keeps_blocks_whole_and_counts_utf16():
    from analytics.messages import pack_blocks, utf16_len

    blocks = [["a" * 30, "b" * 30], ["c" * 30], ["d" * 30, "e" * 30]]
    assert pack_blocks(blocks, limit=100) == ["a" * 30 + "\n" + "b" * 30 + "\n\n" + "c" * 30, "d" * 30 + "\n" + "e" * 30]
    # A block larger than a message is split between its lines, then the next block follows it.
    big = [[f"{i:02d} " + "x" * 40 for i in range(6)], ["tail"]]
    parts = pack_blocks(big, limit=100)
    assert all(utf16_len(p) <= 100 for p in parts) and parts[-1].endswith("\n\ntail")
    assert "\n".join(parts).replace("\n\n", "\n").split("\n") == [*big[0], "tail"]
    # Telegram counts an emoji outside the BMP as two units.
    emoji = ["😀" * 30, "😀" * 30]
    assert pack_blocks([emoji], limit=100) == ["😀" * 30, "😀" * 30]


def test_freed_memory_is_given_back_on_glibc_and_nothing_happens_elsewhere():
    # After each export (issue 24's soak): glibc's malloc_trim on Linux, a no-op where there is none.
    on_glibc = sys.platform == "linux" and platform.libc_ver()[0] == "glibc"
    assert release_freed_memory() is on_glibc
    assert release_freed_memory() is on_glibc  # as often as asked


@pytest.mark.parametrize("zone", ["Europe/Moscow", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe",
                                  "Europe/Amsterdam", "UTC"])
def test_export_times_are_written_as_isoformat_writes_them(zone):
    # The CSV's times are made once per minute (analytics.export.IsoTimes): every second across daylight-saving
    # changes, half-hour offsets, Lord Howe's 30-minute shift, Amsterdam's change from +01:19:32 to +01:20 at
    # 22:40:28 UTC on 30 June 1937 (mid-minute) and Moscow's +02:30:17 of 1890 (not whole minutes) must read exactly as astimezone(zone).isoformat(timespec="seconds").
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    from analytics.export import IsoTimes

    iso, tz = IsoTimes(ZoneInfo(zone)), ZoneInfo(zone)
    starts = [datetime(2026, 3, 8, 6, 0, tzinfo=UTC), datetime(2026, 11, 1, 5, 0, tzinfo=UTC),
              datetime(2026, 4, 4, 14, 0, tzinfo=UTC), datetime(2026, 10, 3, 15, 0, tzinfo=UTC),
              datetime(1937, 6, 30, 22, 0, tzinfo=UTC), datetime(2026, 3, 29, 0, 0, tzinfo=UTC),
              datetime(1890, 1, 1, tzinfo=UTC)]
    checked = 0
    for start in starts:
        for step in range(0, 3 * 3600, 7):
            value = start + timedelta(seconds=step, microseconds=step * 997 % 1_000_000)
            assert iso(value) == value.astimezone(tz).isoformat(timespec="seconds"), value
            checked += 1
    assert checked > 9000 and iso.minutes  # and the cache was used
