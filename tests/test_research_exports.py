"""Exports researchers can load in one step: SPSS .sav with labels, CSV for Russian Excel, XLSX text as typed,
a codebook beside every export, duration / last question / version / zoned times, and load_responses()."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

import openpyxl
import pandas as pd
import pyreadstat
import pytest
from sqlalchemy import text

from analytics import load_responses
from analytics.codebook import OTHER_CODE, codebook_rows, option_codes
from analytics.jobs import export_bytes, export_files
from bot.cli import main
from storage.db import create_engine
from storage.migrate import upgrade
from survey.loader import load_survey
from tests.analytics_data import BASE, insert_fixed

Q01, Q02, Q05, Q10, Q12, Q13 = ("q01_who_does_accounting", "q02_am_functions", "q05_subcontractor_rating",
                                "q10_response_speed", "q12_company_size", "q13_region")
BOSS = "- руководитель + помощник"


@pytest.fixture
async def fixed(db_url):
    """The fixed data set (tests/analytics_data.py); R89's typed "other" is a text starting with «-»."""
    engine = create_engine(db_url)
    await upgrade(engine)
    survey = load_survey()
    await insert_fixed(engine, survey)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE answers SET other_text = :t WHERE response_id = 89 AND question_id = :q"),
                           {"t": BOSS, "q": Q01})
        await conn.execute(text("UPDATE responses SET survey_version = 2 WHERE id = 5"))
    await engine.dispose()
    return db_url, survey


def rows_by_id(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_index("response_id")


async def test_sav_opens_with_every_label(fixed, tmp_path):
    db_url, survey = fixed
    content = await export_bytes(db_url, survey, "sav")
    path = tmp_path / "answers.sav"
    path.write_bytes(content)
    frame, meta = pyreadstat.read_sav(str(path))
    assert len(frame) == 100
    labels = meta.column_names_to_labels
    q01 = survey.get(Q01)
    assert labels[f"{Q01}__code"] == f"1. {q01.text} (код)"
    assert labels[Q05] == f"5. {survey.get(Q05).text}"
    assert labels["duration_seconds"].startswith("Длительность")
    codes = meta.variable_value_labels[f"{Q01}__code"]
    assert codes == {1.0: "Аккаунт-менеджеры", 2.0: "Руководитель компании", 3.0: "Непосредственные исполнители",
                     4.0: "Руководитель отдела / группы", 97.0: "Прочее (укажите)"}
    assert meta.variable_value_labels[f"{Q02}__upsell"] == {0.0: "не выбран", 1.0: "выбран"}
    scale = survey.get(Q05).scale
    assert meta.variable_value_labels[Q05] == {float(scale.min): scale.min_label, float(scale.max): scale.max_label}
    # Every single-choice question has all its codes labelled.
    for q in survey.questions:
        if q.type.value == "single_choice":
            assert set(meta.variable_value_labels[f"{q.id}__code"]) == {float(c) for c in option_codes(q).values()}
    by_id = rows_by_id(frame)
    assert by_id.loc[1, f"{Q01}__code"] == 1 and by_id.loc[55, f"{Q01}__code"] == 2
    assert by_id.loc[89, f"{Q01}__code"] == OTHER_CODE and by_id.loc[89, f"{Q01}__other"] == BOSS
    assert by_id.loc[1, f"{Q02}__upsell"] == 1 and by_id.loc[2, f"{Q02}__upsell"] == 0
    assert pd.isna(by_id.loc[9, f"{Q02}__upsell"]), "skipped: empty, not 0"
    assert by_id.loc[1, "duration_seconds"] == 60 and by_id.loc[5, "survey_version"] == 2
    # pandas reads the same file (through pyreadstat) with the labels applied.
    spss = pd.read_spss(str(path))
    assert rows_by_id(spss).loc[1, f"{Q01}__code"] == "Аккаунт-менеджеры"


async def test_csv_semicolon_opens_in_pandas_with_the_same_data(fixed):
    db_url, survey = fixed
    comma = await export_bytes(db_url, survey, "csv")
    semi = await export_bytes(db_url, survey, "csv", delimiter=";")
    assert semi.startswith(b"\xef\xbb\xbf")
    a = pd.read_csv(io.BytesIO(comma), encoding="utf-8-sig", dtype=str, keep_default_na=False)
    b = pd.read_csv(io.BytesIO(semi), encoding="utf-8-sig", dtype=str, keep_default_na=False, sep=";")
    pd.testing.assert_frame_equal(a, b)
    assert len(b.columns) > 50, "not one column"
    first = semi.decode("utf-8-sig").splitlines()[0]
    assert first.startswith("respondent;response_id;status;started_at;completed_at;duration_seconds;last_question")


async def test_new_columns_and_zoned_iso_times(fixed):
    db_url, survey = fixed
    frame = pd.read_csv(io.BytesIO(await export_bytes(db_url, survey, "csv")), encoding="utf-8-sig", dtype=str,
                        keep_default_na=False).set_index("response_id")
    # R1 starts at BASE + 1 minute (UTC) and completes 60 s later; Moscow is UTC+3.
    start = (BASE + timedelta(minutes=1)).astimezone(__import__("zoneinfo").ZoneInfo("Europe/Moscow"))
    assert frame.loc["1", "started_at"] == start.isoformat() == "2026-03-01T13:01:00+03:00"
    assert frame.loc["1", "completed_at"] == "2026-03-01T13:02:00+03:00"
    assert frame.loc["1", "duration_seconds"] == "60" and frame.loc["90", "duration_seconds"] == "5400"
    assert frame.loc["95", "duration_seconds"] == "" and frame.loc["95", "last_question"] == Q02
    assert frame.loc["99", "last_question"] == Q01 and frame.loc["1", "last_question"] == ""
    assert frame.loc["1", "survey_version"] == "1" and frame.loc["5", "survey_version"] == "2"
    assert frame.loc["1", f"{Q01}__code"] == "1" and frame.loc["89", f"{Q01}__code"] == "97"
    assert frame.loc["89", f"{Q01}__other"] == "'" + BOSS, "CSV keeps the formula guard"
    utc = await export_bytes(db_url, survey, "csv", tz_name="UTC")
    assert "2026-03-01T10:01:00+00:00" in utc.decode("utf-8-sig")


async def test_xlsx_writes_text_as_text_and_has_the_codebook(fixed):
    db_url, survey = fixed
    book = openpyxl.load_workbook(io.BytesIO(await export_bytes(db_url, survey, "xlsx")))
    sheet = book["Ответы"]
    header = [c.value for c in sheet[1]]
    rows = {r[1]: dict(zip(header, r)) for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert rows[89][f"{Q01}__other"] == BOSS, "no apostrophe: XLSX cells are never formulas"
    assert rows[8][f"{Q02}__other"] == "-1+1"
    assert rows[90][f"{Q01}__other"] == '=HYPERLINK("http://evil.example","click")'
    cell = next(c for c in sheet.iter_rows(min_row=2) if c[1].value == 90)[header.index(f"{Q01}__other")]
    assert cell.data_type == "s", "written as a string, not a formula"
    assert rows[1][f"{Q01}__code"] == 1 and rows[1]["duration_seconds"] == 60
    assert rows[1]["started_at"] == datetime(2026, 3, 1, 13, 1), "a real date cell in Moscow time"
    assert "Europe/Moscow" in (sheet.cell(1, header.index("started_at") + 1).comment.text)
    codebook = [list(r) for r in book["Кодбук"].iter_rows(values_only=True)]
    assert codebook[0] == ["variable", "question", "label", "type", "code", "value_label"]
    listed = {r[0] for r in codebook[1:] if r and r[0]}
    assert set(header) <= listed, set(header) - listed


def test_codebook_lists_every_code():
    survey = load_survey()
    rows = codebook_rows(survey)
    for q in survey.questions:
        if q.type.value == "single_choice":
            codes = {r[4]: r[5] for r in rows if r and r[0] == f"{q.id}__code" and r[4] is not None}
            assert set(codes) == set(range(1, len(q.options) + 1)) | ({OTHER_CODE} if q.other_allowed else set())
            assert codes[1] == q.options[0].text
        if q.type.value == "multiple_choice":
            for o in q.options:
                assert any(r and r[0] == f"{q.id}__{o.id}" and r[4] == 1 for r in rows)
    assert any(r and r[2] and "Europe/Moscow" in str(r[2]) for r in rows)


async def test_export_files_put_a_codebook_beside_csv_and_sav(fixed):
    db_url, survey = fixed
    for fmt in ("csv", "sav"):
        files = await export_files(db_url, survey, fmt, "answers")
        assert [name for name, _ in files] == [f"answers.{fmt}", "answers.codebook.csv"]
        book = list(csv.reader(io.StringIO(files[1][1].decode("utf-8-sig"))))
        assert book[0] == ["variable", "question", "label", "type", "code", "value_label"]
    (name, _), = await export_files(db_url, survey, "xlsx", "answers")  # the codebook is a sheet inside
    assert name == "answers.xlsx"


async def test_cli_formats_delimiter_and_excel_ru(fixed, monkeypatch, tmp_path, capsys):
    db_url, survey = fixed
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.chdir(tmp_path)
    import asyncio

    run = lambda *argv: asyncio.to_thread(main, list(argv))  # noqa: E731
    assert await run("export", "--format", "sav", "-o", "a.sav") == 0
    assert (tmp_path / "a.codebook.csv").exists()
    assert len(pyreadstat.read_sav(str(tmp_path / "a.sav"))[0]) == 100
    assert await run("export", "--format", "csv", "--excel-ru", "-o", "ru.csv") == 0
    raw = (tmp_path / "ru.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and raw.decode("utf-8-sig").splitlines()[0].count(";") > 50
    assert await run("export", "--format", "csv", "--delimiter", ";", "--completed", "-o", "semi.csv") == 0
    assert len(pd.read_csv(tmp_path / "semi.csv", sep=";", encoding="utf-8-sig")) == 90
    out = capsys.readouterr().out
    assert "ru.codebook.csv" in out
    capsys.readouterr()
    assert await run("export", "--format", "xlsx", "--delimiter", ";", "-o", "x.xlsx") == 2
    assert "--delimiter" in capsys.readouterr().err


async def test_load_responses_for_notebooks(fixed):
    db_url, survey = fixed
    # Called from inside a running event loop, as in Jupyter.
    frame = load_responses(db_url)
    assert len(frame) == 100
    q01 = frame[Q01].dtype
    assert isinstance(q01, pd.CategoricalDtype) and not q01.ordered
    assert list(q01.categories) == [o.text for o in survey.get(Q01).options] + ["Прочее (укажите)"]
    q10 = frame[Q10].dtype
    assert q10.ordered and list(q10.categories)[0] == "В течение 15 минут"
    assert str(frame["started_at"].dt.tz) == "Europe/Moscow"
    assert frame[Q05].dtype == "Int64" and frame[f"{Q01}__code"].dtype == "Int64"
    assert frame.set_index("response_id").loc[1, Q12] == 1
    counts = frame[Q01].value_counts(sort=False)
    assert list(counts.index) == list(q01.categories) and counts["Аккаунт-менеджеры"] == 54
    done = load_responses(db_url, completed_only=True, where="13=1", timezone="UTC")
    assert len(done) == 45 and str(done["started_at"].dt.tz) == "UTC"
