"""Charts a researcher would put in a report: bar order, notes, the funnel as shares, text answers as a file,
and buttons under a filtered summary that keep the filter."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from analytics.charts import MULTI_NOTE, answers_file, funnel_figure, funnel_points, has_chart, question_figure
from analytics.summary import build_summary
from bot.settings import Settings
from storage.db import create_engine
from storage.migrate import upgrade
from survey.i18n import translator
from survey.loader import load_survey
from tests.analytics_data import insert_fixed
from tests.conftest import ADMIN_ID, TEST_TOKEN
from tests.harness import running_app
from tests.recording import SimUser

RU = translator("ru").gettext  # the bot's texts as a respondent whose Telegram is in Russian reads them

Q01, Q02, Q05, Q12 = "q01_who_does_accounting", "q02_am_functions", "q05_subcontractor_rating", "q12_company_size"
TEAM = Path(__file__).with_name("data") / "team_survey.yaml"


@pytest.fixture
async def summary(tmp_path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'fixed.db'}")
    await upgrade(engine)
    survey = load_survey()
    await insert_fixed(engine, survey)
    try:
        yield await build_summary(engine, survey)
    finally:
        await engine.dispose()


def bar_labels(fig) -> list[str]:
    return [t.get_text() for t in fig.axes[0].get_yticklabels()]


def notes(fig) -> str:
    return " ".join(t.get_text().replace("\n", " ") for t in fig.texts)


def test_nominal_options_ranked_by_share_other_last(summary):
    fig = question_figure(summary.question(Q01))
    # 54 account managers, 20 CEOs, 10 executors, 4 heads of department; "other" (5) stays last.
    assert bar_labels(fig) == ["Аккаунт-менеджеры", "Руководитель компании", "Непосредственные исполнители",
                               "Руководитель отдела / группы", "Прочее (укажите)"]
    widths = [p.get_width() for p in fig.axes[0].patches]
    assert widths[:4] == sorted(widths[:4], reverse=True)
    assert "База: ответившие на вопрос, n = 93" in notes(fig) and RU(MULTI_NOTE) not in notes(fig)


def test_multiple_choice_note_and_ties_keep_questionnaire_order(summary):
    q = summary.question(Q02)
    fig = question_figure(q)
    assert "База: ответившие на вопрос, n = 8" in notes(fig)
    assert "несколько ответов, сумма больше 100%" in notes(fig)
    counts = {o.label: o.count for o in q.options}
    labels = [label.replace("\n", " ") for label in bar_labels(fig)]
    assert [counts[label] for label in labels[:-1]] == sorted((counts[label] for label in labels[:-1]), reverse=True)
    order = [o.label for o in q.options]
    for a, b in zip(labels[:-1], labels[1:-1]):
        if counts[a] == counts[b]:
            assert order.index(a) < order.index(b), "equal shares keep questionnaire order"
    assert labels[-1] == q.other.label


def test_ordered_options_keep_their_order(summary):
    q = summary.question(Q01)
    reversed_options = [o for o in reversed(q.options) if not o.is_other] + [q.other]
    q = dataclasses.replace(q, options=reversed_options)
    assert bar_labels(question_figure(q, ordered=True)) == [o.label for o in reversed_options]
    assert bar_labels(question_figure(q, ordered=False))[0] == "Аккаунт-менеджеры"


def test_bundled_study_marks_its_ordinal_questions():
    survey = load_survey()
    assert [q.id for q in survey.questions if q.ordered] == ["q09_task_detail", "q10_response_speed"]


def test_scale_in_scale_order_with_the_mean_marked(summary):
    q = summary.question(Q05)  # 1..10 once each, then two more 10s: mean 75 / 12 = 6.25
    fig = question_figure(q)
    ax = fig.axes[0]
    assert [t.get_text().split("\n")[0] for t in ax.get_xticklabels()] == [str(v) for v in range(1, 11)]
    mean_lines = [line for line in ax.lines if line.get_linestyle() == "--"]
    assert len(mean_lines) == 1 and mean_lines[0].get_xdata()[0] == pytest.approx(6.25 - 1)  # columns stand at 0..9
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "среднее 6,3" in texts
    assert "среднее 6,3, медиана 6,5" in notes(fig) and "n = 12" in notes(fig)


def test_no_word_is_broken_at_a_hyphen(summary):
    for q in summary.questions:
        if not has_chart(q):
            continue
        fig = question_figure(q)
        for label in bar_labels(fig) + [fig.axes[0].get_title(loc="left")]:
            for line in label.split("\n")[:-1]:
                assert not line.endswith("-"), (q.id, label)
    long = next(o.label for o in summary.question("q03_org_structure").options if "аккаунт-директор (" in o.label)
    wrapped = next(label for label in bar_labels(question_figure(summary.question("q03_org_structure")))
                   if label.replace("\n", " ") == long)
    assert "аккаунт-директор" in wrapped and "аккаунт-отдела)" in wrapped


def test_funnel_is_the_share_still_answering_with_drop_off_labelled(summary):
    points = funnel_points(summary)
    assert points[0] == ("1", 100.0, 3)  # all 100 reached q01; R98-100 stopped there
    assert points[1][0] == "2" and points[1][1] == pytest.approx(97.0) and points[1][2] == 7  # R91-97 stand on q02
    assert points[-1] == ("заверш.", 90.0, 0)
    fig = funnel_figure(summary)
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert "100,0%" in texts and "−3" in texts and "−7" in texts and "90,0%" in texts
    assert ax.get_ylim()[1] > 100 and ax.get_ylim()[0] == 80  # the lowest share is 90 %: the axis starts at 80
    assert "ось начинается с 80%" in notes(fig) and "завершили 90 из 100" in notes(fig)


def test_answers_file_of_a_text_question(summary):
    q = dataclasses.replace(summary.question(Q01), other_texts=["Первый ответ", "Второй\nв две строки"])
    content = answers_file(q, "11=2").decode("utf-8")
    assert content.startswith("1. Кто выполняет функции аккаунтинга")
    assert "1. Первый ответ\n\n2. Второй\nв две строки\n" in content and "Фильтр: 11=2" in content


@pytest.fixture
async def team(db_url):
    settings = Settings(_env_file=None, bot_token=TEST_TOKEN, database_url=db_url, survey_file=TEAM,
                        admin_ids=str(ADMIN_ID), flood_messages=10_000)
    async with running_app(settings) as (app, request):
        yield app, request


async def answer_team(u: SimUser, role: str, wish: str) -> None:
    await u.begin()
    await u.press(role)
    await u.press("Slack")
    await u.press("Готово")
    await u.send("7")
    await u.send(wish)


def sent(request, name: str, since: int = 0) -> list[dict]:
    return [p for n, p in request.calls[since:] if n == name and int(p["chat_id"]) == ADMIN_ID]


async def test_text_questions_come_as_a_file_never_a_placeholder(team):
    app, request = team
    await answer_team(SimUser(app, request, 601), "Разработчик", "Меньше созвонов")
    await answer_team(SimUser(app, request, 602), "Дизайнер", "Больше фокуса")
    admin = SimUser(app, request, ADMIN_ID)
    await admin.send("/stats charts")
    photos = sent(request, "sendMediaGroup") + sent(request, "sendPhoto")
    assert sum(len(p.get("media", [None])) for p in photos) == 4, "one picture per question with a chart"
    docs = sent(request, "sendDocument")
    assert len(docs) == 1
    (name, content), = docs[0]["_files"].values()
    assert name == "q5_answers.txt"
    text = content.decode("utf-8")
    assert "1. Меньше созвонов" in text and "2. Больше фокуса" in text
    before = len(request.calls)
    await admin.send("/stats 5")
    assert sent(request, "sendPhoto", before) == [] and len(sent(request, "sendDocument", before)) == 1


async def test_buttons_under_a_filtered_summary_keep_the_filter(team):
    app, request = team
    await answer_team(SimUser(app, request, 611), "Разработчик", "А")
    await answer_team(SimUser(app, request, 612), "Дизайнер", "Б")
    partial = SimUser(app, request, 613)
    await partial.begin()
    await partial.press("Разработчик")
    admin = SimUser(app, request, ADMIN_ID)

    await admin.send("/stats completed where 1=1")
    summary_message = admin.last()
    assert summary_message.keyboard is not None, "a filtered summary has its buttons too"
    data = [b["callback_data"] for b in summary_message.buttons()]
    assert data == ["st:charts:c:w:1=1", "st:funnel:c:w:1=1", "st:export_csv:c:w:1=1", "st:export_xlsx:c:w:1=1"]

    before = len(request.calls)
    await admin.press("CSV", message=summary_message)
    doc, codebook = sent(request, "sendDocument", before)  # the CSV, then its codebook
    (name, content), = doc["_files"].values()
    assert "_completed" in name and "_filtered" in name
    lines = content.decode("utf-8-sig").strip().splitlines()
    assert len(lines) == 2, "one row: the completed developer (not the designer, not the partial one)"
    assert "фильтр" in doc["caption"] and "завершённые" in doc["caption"]

    before = len(request.calls)
    await admin.press("Воронка", message=summary_message)
    texts = [p["text"] for p in sent(request, "sendMessage", before)]
    assert any("Фильтр:" in t for t in texts), texts
    # The funnel counts every started response of the filter (completed ones alone show no drop-off).
    assert any("Фильтр: 1 = Разработчик\nНачали: 2." in t for t in texts), texts

    # A filter too long for the button data travels under a short key kept for this chat.
    long = "where " + " ".join(["1=1,2"] * 10)
    await admin.send(f"/stats {long}")
    message = admin.last()
    keyed = [b["callback_data"] for b in message.buttons()]
    assert all(":k:" in d and len(d.encode()) <= 64 for d in keyed), keyed
    before = len(request.calls)
    await admin.press("Воронка", message=message)
    texts = [p["text"] for p in sent(request, "sendMessage", before)]
    assert any("Начали: 3" in t for t in texts) and any("Фильтр:" in t for t in texts), texts
