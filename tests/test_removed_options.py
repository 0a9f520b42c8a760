"""An option removed from a live questionnaire: its answers are counted on a line of their own
«(удалён из анкеты)», so a single-choice question's lines still add up to n (issue 14, item 3)."""

from __future__ import annotations

from pathlib import Path

import yaml

from analytics.summary import REMOVED, REMOVED_LABEL, build_summary, summary_to_json
from analytics.summary_text import render_summary
from bot.settings import Settings
from survey.i18n import translator
from survey.loader import parse_survey
from tests.conftest import TEST_TOKEN
from tests.harness import running_app
from tests.recording import SimUser

RU = translator("ru").gettext  # the bot's texts as a respondent whose Telegram is in Russian reads them


def raw_survey(options: list[tuple[str, str]]) -> dict:
    return {"survey": {"id": "edits", "title": "Правки"},
            "questions": [{"id": "q_role", "type": "single_choice", "text": "Кто вы?",
                           "options": [{"id": i, "text": t} for i, t in options]},
                          {"id": "q_tools", "type": "multiple_choice", "text": "Чем пользуетесь?",
                           "options": [{"id": "jira", "text": "Jira"}, {"id": "figma", "text": "Figma"}]}]}


async def test_removed_option_counts_add_up_to_n(db_url, tmp_path: Path):
    first = tmp_path / "v1.yaml"
    first.write_text(yaml.safe_dump(raw_survey([("dev", "Разработчик"), ("pm", "Менеджер"), ("qa", "Тестировщик")]),
                                    allow_unicode=True), encoding="utf-8")
    settings = Settings(_env_file=None, bot_token=TEST_TOKEN, database_url=db_url, survey_file=first, flood_messages=10_000)
    async with running_app(settings) as (app, request):
        for uid, label in ((7001, "Тестировщик"), (7002, "Тестировщик"), (7003, "Разработчик"), (7004, "Менеджер")):
            u = SimUser(app, request, uid)
            await u.begin()
            await u.press(label)
        edited = parse_survey(raw_survey([("dev", "Разработчик"), ("pm", "Менеджер")]))
        summary = await build_summary(app.bot_data.engine, edited)
        same = await build_summary(app.bot_data.engine, app.bot_data.survey)
    role = summary.question("q_role")
    counts = {o.id: o.count for o in role.options}
    assert counts == {"dev": 1, "pm": 1, REMOVED: 2} and sum(counts.values()) == role.n == 4
    assert f"{RU(REMOVED_LABEL)} — 2 (50,0%)" in "\n".join(render_summary(summary))
    assert {o["id"] for o in summary_to_json(summary)["questions"][0]["options"]} == {"dev", "pm", REMOVED}
    # Nothing changes for a questionnaire that still has every option.
    assert REMOVED not in {o.id for o in same.question("q_role").options}


async def test_a_removed_option_keeps_its_label_and_a_code_in_every_export(db_url, tmp_path: Path):
    """Issue 21, point 5: the label comes from the stored questionnaire version, the code follows the current
    options (theirs do not move), and the codebook and the SAV value labels name it."""
    import io

    import pandas as pd
    import pyreadstat

    from analytics.jobs import export_files
    from storage.definitions import REMOVED_NOTE

    first = tmp_path / "v1.yaml"
    first.write_text(yaml.safe_dump(raw_survey([("dev", "Разработчик"), ("pm", "Менеджер"), ("qa", "Тестировщик")]),
                                    allow_unicode=True), encoding="utf-8")
    settings = Settings(_env_file=None, bot_token=TEST_TOKEN, database_url=db_url, survey_file=first, flood_messages=10_000)
    async with running_app(settings) as (app, request):
        for uid, label, tool in ((7101, "Тестировщик", "Figma"), (7102, "Разработчик", "Jira")):
            u = SimUser(app, request, uid)
            await u.begin()
            await u.press(label)
            await u.press(tool)
            await u.press("Готово")
    raw = raw_survey([("dev", "Разработчик"), ("pm", "Менеджер")])
    raw["questions"][1]["options"] = [{"id": "jira", "text": "Jira"}]  # Figma removed from the multiple choice
    edited = parse_survey(raw)

    (_, csv_bytes), (_, codebook) = await export_files(db_url, edited, "csv", "out")
    frame = pd.read_csv(io.StringIO(csv_bytes.decode("utf-8-sig")), dtype=str, keep_default_na=False)
    tester = frame[frame["respondent"] == "7101"].iloc[0]
    assert tester["q_role"] == f"Тестировщик {RU(REMOVED_NOTE)}" and tester["q_role__code"] == "3"
    assert tester["q_tools__figma"] == "1" and tester["q_tools"] == f"Figma {RU(REMOVED_NOTE)}"
    dev = frame[frame["respondent"] == "7102"].iloc[0]
    assert dev["q_role__code"] == "1" and dev["q_tools__figma"] == "0"  # the current codes did not move
    book = pd.read_csv(io.StringIO(codebook.decode("utf-8-sig")), dtype=str, keep_default_na=False)
    coded = book[(book["variable"] == "q_role__code") & (book["code"] == "3")]
    assert list(coded["value_label"]) == [f"Тестировщик {RU(REMOVED_NOTE)}"]
    assert "q_tools__figma" in set(book["variable"])

    (_, xlsx), = await export_files(db_url, edited, "xlsx", "out")
    sheet = pd.read_excel(io.BytesIO(xlsx), sheet_name="Ответы")
    assert sheet.loc[sheet["respondent"] == 7101, "q_role__code"].item() == 3

    (_, sav), _ = await export_files(db_url, edited, "sav", "out")
    path = tmp_path / "out.sav"
    path.write_bytes(sav)
    data, meta = pyreadstat.read_sav(str(path))
    assert meta.variable_value_labels["q_role__code"][3.0] == f"Тестировщик {RU(REMOVED_NOTE)}"
    assert sorted(data["q_role__code"].tolist()) == [1.0, 3.0]
