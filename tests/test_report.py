"""The HTML report: its figures are the JSON's of `surveybot stats`, it loads in headless Chromium offline with no
error and no request, prints a part per page, keeps hostile answers as text; /report is admin-only.

Data: the paper data set (tests/analytics_data.py ``insert_2020_copy``: 99 respondents giving exactly the 2020
article's counts), plus three respondents whose "other" answers are hostile, plus a test run (stored under the
test copy's survey id) that must never appear; and the fixed data set (in-progress responses, a scale, number
buckets, typed "other" texts).
"""

from __future__ import annotations

import asyncio
import io
import json
import re
from datetime import timedelta
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from analytics.report import css_string, part_title
from analytics.summary_text import fmt_percent
from bot.cli import main as cli
from bot.respondent import screens
from storage.db import create_engine
from storage.migrate import upgrade
from storage.models import COMPLETED, Answer, AnswerChoice, Respondent, Response
from survey.i18n import translator
from survey.loader import load_survey
from survey.testmode import TEST_SUFFIX
from tests.analytics_data import BASE, insert_2020_copy, insert_fixed
from tests.conftest import ADMIN_ID

HOSTILE = ["<script>alert(1)</script>", '"><img src=x onerror=alert(2)>', "{{ 7*7 }}"]


async def insert_hostile_and_test_run(engine, survey) -> None:
    """Respondents 100-102 answer question 1 with «Прочее» and a hostile text; respondent 103's run is a test run."""
    people, responses, answers, choices = [], [], [], []
    for i, text in zip(range(100, 104), [*HOSTILE, "тестовый прогон"]):
        people.append({"id": i, "user_key": f"h{i}", "first_seen": BASE})
        responses.append({"id": i, "respondent_id": i, "survey_id": survey.id + (TEST_SUFFIX if i == 103 else ""),
                          "survey_version": 1, "status": COMPLETED, "started_at": BASE + timedelta(hours=3),
                          "completed_at": BASE + timedelta(hours=3, minutes=4), "updated_at": BASE,
                          "awaiting_other": False, "version": 1})
        answers.append({"response_id": i, "question_id": "q01_who_does_accounting", "choices": "other", "number": None,
                        "text": None, "other_text": text, "skipped": False, "answered_at": BASE + timedelta(hours=3)})
        choices.append({"response_id": i, "question_id": "q01_who_does_accounting", "option_id": "other"})
    async with engine.begin() as conn:
        await conn.execute(insert(Respondent), people)
        await conn.execute(insert(Response), responses)
        await conn.execute(insert(Answer), answers)
        await conn.execute(insert(AnswerChoice), choices)


async def fill(url: str, data_set: str) -> None:
    survey = load_survey()
    engine = create_engine(url)
    try:
        await upgrade(engine)
        if data_set == "paper":
            await insert_2020_copy(engine, survey)
            await insert_hostile_and_test_run(engine, survey)
        else:
            await insert_fixed(engine, survey)
    finally:
        await engine.dispose()


def run_cli(monkeypatch, capsys, tmp_path: Path, url: str, *args: str) -> tuple[int, str, str]:
    monkeypatch.setenv("DATABASE_URL", url)
    for name in ("BOT_TOKEN", "SURVEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    code = cli(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# The report read back --------------------------------------------------------------------------------

VOID = {"meta", "br", "img", "input", "link", "hr", "wbr"}


class Node:
    def __init__(self, tag: str, attrs: dict[str, str], parent: Node | None):
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node] = []
        self.parts: list[str] = []

    @property
    def text(self) -> str:
        return " ".join("".join(self.parts).split())

    def all(self, tag: str | None = None, **attrs: str) -> list[Node]:
        """Descendants with this tag and these attributes (data_x=… for data-x)."""
        want = {k.replace("_", "-"): v for k, v in attrs.items()}
        out = []
        for child in self.children:
            if (tag is None or child.tag == tag) and all(child.attrs.get(k) == v for k, v in want.items()):
                out.append(child)
            out += child.all(tag, **attrs)
        return out

    def one(self, tag: str | None = None, **attrs: str) -> Node:
        found = self.all(tag, **attrs)
        assert len(found) == 1, (tag, attrs, len(found))
        return found[0]


class Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = self.node = Node("#document", {}, None)

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: v or "" for k, v in attrs}, self.node)
        self.node.children.append(node)
        if tag not in VOID:
            self.node = node

    def handle_startendtag(self, tag, attrs):
        self.node.children.append(Node(tag, {k: v or "" for k, v in attrs}, self.node))

    def handle_endtag(self, tag):
        node = self.node
        while node is not None and node.tag != tag:
            node = node.parent
        assert node is not None and node.parent is not None, f"unbalanced </{tag}>"
        self.node = node.parent

    def handle_data(self, data):
        node = self.node
        while node is not None:
            node.parts.append(data)
            node = node.parent


def read_html(text: str) -> Node:
    reader = Reader()
    reader.feed(text)
    reader.close()
    assert reader.node is reader.root, "every element is closed"
    return reader.root


def same_number(attr: str, value: Any) -> bool:
    """A data- attribute against a JSON number (or null)."""
    if value is None:
        return attr == ""
    return attr != "" and float(attr) == float(value)


def shown_percent(value: float | None) -> str:
    return fmt_percent(translator("ru"), None if value is None else Decimal(str(value)))  # the report: default language


def check_line(row: Node, item: dict[str, Any]) -> None:
    """A table row against an option (or bucket) of the JSON, the baseline figure included."""
    assert row.attrs["data-count"] == str(item["count"]) and row.one("td", **{"class": "num count"}).text == str(item["count"])
    assert same_number(row.attrs["data-percent"], item["percent"])
    assert row.one("td", **{"class": "num pct"}).text == shown_percent(item["percent"])
    base = item.get("baseline")
    if base is None:
        assert "data-base-percent" not in row.attrs
        return
    assert same_number(row.attrs["data-base-percent"], base["percent"])
    assert row.attrs["data-base-count"] == str(base["count"]) and row.attrs["data-base-n"] == str(base["n"])
    assert same_number(row.attrs["data-base-computed"], base["computed_percent"])
    assert row.attrs["data-provenance"] == base["provenance"]
    assert same_number(row.attrs["data-diff-pp"], base["diff_pp"])
    assert same_number(row.attrs["data-p-value"], base["p_value"])
    assert row.attrs["data-test"] == (base["test"] or "")
    assert f"в статье {base['printed']}" in row.text


def check_report_against_json(page: Node, data: dict[str, Any]) -> None:
    """Every figure of the JSON is in the report, equal, in the attribute and on the page."""
    for key in ("started", "completed", "in_progress"):
        assert page.one("dd", data_figure=key).text == str(data[key]), key
    assert same_number(page.one("dd", data_figure="completion_rate").attrs["data-value"], data["completion_rate"])
    assert page.one("dd", data_figure="completion_rate").text == shown_percent(data["completion_rate"])
    assert same_number(page.one("dd", data_figure="median_completion_seconds").attrs["data-value"],
                       data["median_completion_seconds"])
    assert page.one("dd", data_figure="filter").text == (data["filter"] or "нет: все респонденты")
    articles = page.all("article")
    assert [a.attrs["data-question"] for a in articles] == [q["id"] for q in data["questions"]]
    for qj, article in zip(data["questions"], articles):
        for key in ("n", "skipped", "not_reached"):
            assert article.attrs[f"data-{key.replace('_', '-')}"] == str(qj[key]), (qj["id"], key)
        assert same_number(article.attrs["data-mean"], qj["mean"]) and same_number(article.attrs["data-median"], qj["median"])
        rows = [r for r in article.all("tr") if "data-option" in r.attrs]
        assert [r.attrs["data-option"] for r in rows] == [o["id"] for o in qj["options"]], qj["id"]
        for option, row in zip(qj["options"], rows):
            check_line(row, option)
        ranges = [r for r in article.all("tr") if "data-bucket" in r.attrs]
        assert [r.attrs["data-bucket"] for r in ranges] == [b["label"] for b in qj["buckets"]], qj["id"]
        for bucket, row in zip(qj["buckets"], ranges):
            check_line(row, bucket)
        texts = article.all("ol")
        if qj["other_texts"]:
            (listed,) = texts
            assert listed.attrs["data-texts"] == str(len(qj["other_texts"]))
            assert [li.text for li in listed.all("li")] == [" ".join(t.split()) for t in qj["other_texts"][:50]]
    steps = [r for r in page.all("tr") if "data-step" in r.attrs]
    assert [s.attrs["data-step"] for s in steps] == [f["id"] for f in data["funnel"]]
    for f, row in zip(data["funnel"], steps):
        for key in ("reached", "answered", "skipped", "dropped"):
            assert row.attrs[f"data-{key}"] == str(f[key])
    reminders = next(p for p in page.all("p") if "data-reminded" in p.attrs)
    assert (reminders.attrs["data-reminded"], reminders.attrs["data-came-back"], reminders.attrs["data-reminders-completed"]) \
        == tuple(str(data["reminders"][k]) for k in ("reminded", "came_back", "completed"))
    if "banner" in data:
        check_segments(page, data)


def check_segments(page: Node, data: dict[str, Any]) -> None:
    columns = [c["id"] for c in data["banner"]["columns"]]
    crossed = [q for q in data["questions"] if "segments" in q]
    assert [t.attrs["data-crosstab"] for t in page.all("table") if "data-crosstab" in t.attrs] == [q["id"] for q in crossed]
    for qj in crossed:
        table = page.one("table", data_crosstab=qj["id"])
        (n_row,) = [r for r in table.all("tr") if r.attrs.get("data-row") == "n"]
        assert [td.attrs["data-n"] for td in n_row.all("td") if "data-col" in td.attrs] == \
            [str(qj["segments"][c]["n"]) for c in columns]
        rows = {r.attrs["data-option"]: r for r in table.all("tr") if "data-option" in r.attrs}
        for c in columns:
            for option in qj["segments"][c]["options"]:
                cell = rows[option["id"]].one("td", data_col=c)
                assert cell.attrs["data-count"] == str(option["count"])
                assert same_number(cell.attrs["data-percent"], option["percent"])
                assert cell.attrs["data-mark"] == (option["mark"] or "")
                assert cell.text.startswith(shown_percent(option["percent"]))
        if qj["segments"][columns[0]]["mean"] is not None or qj["type"] in ("scale", "number"):
            (means,) = [r for r in table.all("tr") if r.attrs.get("data-row") == "mean"]
            assert all(same_number(td.attrs["data-value"], qj["segments"][c]["mean"])
                       for td, c in zip(means.all("td"), columns))
        if qj["test"] is not None:
            note = next(p for p in page.all("p") if p.attrs.get("data-test") == qj["test"]["name"]
                        and same_number(p.attrs["data-p-value"], qj["test"]["p_value"]))
            assert note.text.startswith("Проверка:")
        for option in qj["options"]:
            if option.get("test"):
                cell = rows[option["id"]].all("td")[-1]
                assert same_number(cell.attrs["data-p-value"], option["test"]["p_value"])


@pytest.mark.parametrize("data_set, banner", [("paper", "1"), ("fixed", "13")])
async def test_report_figures_equal_the_stats_json(db_url, tmp_path, monkeypatch, capsys, data_set, banner):
    if data_set == "fixed" and not db_url.startswith("sqlite"):
        pytest.skip("the fixed set runs on SQLite; the paper set covers PostgreSQL")
    await fill(db_url, data_set)

    def both() -> tuple[dict, str]:
        code, out, err = run_cli(monkeypatch, capsys, tmp_path, db_url, "stats", "--format", "json", "--compare",
                                 "--by", banner)
        assert code == 0, err
        code, out2, err = run_cli(monkeypatch, capsys, tmp_path, db_url, "report", "-o", "study.html", "--by", banner)
        assert code == 0, err
        assert "wrote study.html" in out2
        return json.loads(out), (tmp_path / "study.html").read_text(encoding="utf-8")

    data, html = await asyncio.to_thread(both)
    if data_set == "paper":
        assert data["started"] == 102  # 99 + 3 hostile; the test run (respondent 103) never counts
        assert len([q for q in data["questions"] if any("baseline" in o for o in q["options"])]) == 5
    check_report_against_json(read_html(html), data)


def test_report_with_filter_and_completed(tmp_path, monkeypatch, capsys):
    url = f"sqlite+aiosqlite:///{tmp_path / 'f.db'}"
    asyncio.run(fill(url, "fixed"))
    args = ("--where", "13=1", "--completed")
    code, out, err = run_cli(monkeypatch, capsys, tmp_path, url, "stats", "--format", "json", "--compare", *args)
    assert code == 0, err
    data = json.loads(out)
    code, _, err = run_cli(monkeypatch, capsys, tmp_path, url, "report", "-o", "f.html", *args)
    assert code == 0, err
    page = read_html((tmp_path / "f.html").read_text(encoding="utf-8"))
    assert data["filter"] and data["completed_only"] and data["started"] == 45
    check_report_against_json(page, data)
    assert "только завершённые анкеты" in page.one("header").text


CYRILLIC = re.compile("[\u0400-\u04ff]")


class CyrillicReader(HTMLParser):
    """Every piece of visible text (and title/alt/aria-label attribute) holding a Cyrillic letter, with the element
    path it sits in (an <ol class="answers"> counts as "answers")."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.found: list[tuple[tuple[str, ...], str]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("title", "alt", "aria-label"):
            if CYRILLIC.search(attrs.get(key) or ""):
                self.found.append(((*self.stack, tag, f"@{key}"), attrs[key] or ""))
        if tag not in VOID:
            self.stack.append("answers" if tag == "ol" and attrs.get("class") == "answers" else tag)

    def handle_endtag(self, tag):
        while self.stack and self.stack.pop() not in (tag, "answers" if tag == "ol" else tag):
            pass

    def handle_data(self, data):
        if CYRILLIC.search(data) and "style" not in self.stack:
            self.found.append((tuple(self.stack), " ".join(data.split())))


def test_report_in_english_and_in_russian(tmp_path, monkeypatch, capsys):
    """--lang en: no Cyrillic letter anywhere the reader sees (headings, tables, charts' SVG texts, captions,
    tooltips) except what is Russian data: the respondents' own typed answers and the title of the published
    2020 source cited in the header. --lang ru: today's Russian wording, the same document as the default."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"
    asyncio.run(fill(url, "paper"))
    code, out, err = run_cli(monkeypatch, capsys, tmp_path, url, "stats", "--format", "json", "--compare")
    assert code == 0, err
    data = json.loads(out)
    typed = {" ".join(t.split()) for q in data["questions"] for t in q["other_texts"]}
    source = data["baseline"]["source"]
    assert CYRILLIC.search(source) and any(CYRILLIC.search(t) for t in typed)  # the exceptions are real
    pages = {}
    for lang in ("en", "ru", ""):
        code, _, err = run_cli(monkeypatch, capsys, tmp_path, url, "report", "-o", f"r{lang}.html", "--by", "1",
                               *(("--lang", lang) if lang else ()))
        assert code == 0, err
        pages[lang] = (tmp_path / f"r{lang}.html").read_text(encoding="utf-8")

    english = pages["en"]
    assert '<html lang="en">' in english
    reader = CyrillicReader()
    reader.feed(english)
    assert reader.found, "the typed answers and the source are there"
    for path, text in reader.found:
        if "answers" in path:
            assert path[-1] == "li" and text in typed, text
        else:
            assert path[-2:] == ("dl", "dd") and "header" in path and text.endswith(f"; {source}"), (path, text)
            assert not CYRILLIC.search(text.removesuffix(f"; {source}")), text
    page = read_html(english)
    assert page.one("nav").one("h2").text == "Contents"
    assert [h.text for h in page.all("h2")][-3:] == [
        "Fieldwork", "Method", "Appendix: segments by question 1. Who handles account management"]
    assert page.one("dd", data_figure="filter").text == "none: all respondents"
    q1 = page.one("article", data_question="q01_who_does_accounting")
    assert q1.one("h3").text.startswith("1. ") and not CYRILLIC.search(q1.one("h3").text)
    assert "printed" in q1.text and "Source of the figure" in q1.text

    russian = read_html(pages["ru"])
    assert '<html lang="ru">' in pages["ru"]
    assert russian.one("nav").one("h2").text == "Содержание"
    assert [h.text for h in russian.all("h2")][-3:] == [
        "Ход опроса", "Метод", "Приложение: сегменты по вопросу 1. Кто выполняет функции аккаунтинга"]
    assert "в статье" in russian.one("article", data_question="q01_who_does_accounting").text
    footer = re.compile(r"<footer>.*</footer>", re.S)  # the time it was made differs by a second, maybe
    assert footer.sub("", pages["ru"]) == footer.sub("", pages[""])


@pytest.mark.parametrize("args, message", [
    (("--lang", "de"), "--lang: the questionnaire is written in ru, en, not in «de»"),
    (("--where", "99=1"), "--where: "),
    (("--by", "99"), "--by: "),
    (("--where", "13"), "--where: "),
])
def test_report_bad_options_are_one_line(tmp_path, monkeypatch, capsys, args, message):
    url = f"sqlite+aiosqlite:///{tmp_path / 'e.db'}"
    asyncio.run(fill(url, "fixed"))
    code, out, err = run_cli(monkeypatch, capsys, tmp_path, url, "report", "-o", "x.html", *args)
    assert code == 2 and err.startswith(f"surveybot: {message}") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.html").exists()


def test_report_refuses_a_missing_database(tmp_path, monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'none.db'}",
                           "report", "-o", "x.html")
    assert code == 2 and "surveybot:" in err and not (tmp_path / "none.db").exists()


def test_css_string_and_part_titles():
    assert css_string('A "b" </style> \\ 1') == 'A \\22 b\\22  \\3c \\2f style\\3e  \\5c  1'
    assert css_string("Как устроен") == "Как устроен"
    assert [part_title(p) for p in (1, "2", "profile", None, "Своё")] == [
        "Часть 1", "Часть 2", "Профиль респондентов", "Вопросы", "Своё"]


def test_same_data_same_bytes(tmp_path):
    """The SVG is deterministic (fixed hash salt, no dates): two renders of one report are identical."""
    from datetime import UTC, datetime

    from analytics.report import build_report, render_report

    url = f"sqlite+aiosqlite:///{tmp_path / 'd.db'}"
    asyncio.run(fill(url, "fixed"))
    survey = load_survey()

    async def twice() -> list[str]:
        engine = create_engine(url)
        try:
            at = datetime(2026, 3, 2, tzinfo=UTC)
            return [render_report(await build_report(engine, survey, generated_at=at)) for _ in range(2)]
        finally:
            await engine.dispose()

    first, second = asyncio.run(twice())
    assert first == second
    svgs = re.findall(r"<svg\b.*?</svg>", first, flags=re.S)
    assert len(svgs) == 14 + 4 + 1  # every question (q14 too, with no answers), 4 comparisons with answers, the funnel
    ids = re.findall(r'\bid="([^"]+)"', first)
    assert len(ids) == len(set(ids)), "no two elements share an id"
    assert all(re.match(r'<svg [^>]*role="img" aria-labelledby="([^"]+)"><title id="\1">', s) for s in svgs)


# In the browser ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def paper_report(tmp_path_factory) -> Path:
    """The paper data set's report (with the hostile answers), written by the CLI's function."""
    from analytics.report import build_report, render_report

    folder = tmp_path_factory.mktemp("report")
    url = f"sqlite+aiosqlite:///{folder / 'paper.db'}"
    asyncio.run(fill(url, "paper"))

    async def build() -> str:
        engine = create_engine(url)
        try:
            return render_report(await build_report(engine, load_survey(), banner="1"))
        finally:
            await engine.dispose()

    path = folder / "study.html"
    path.write_text(asyncio.run(build()), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def loaded(paper_report):
    """The report opened in headless Chromium (one browser for the module)."""
    from tests.chromium import Browser, chromium_path

    chromium_path()  # skip (or fail under TEST_REQUIRE_CHROMIUM) before starting anything
    browser = Browser()
    try:
        page = browser.new_page()
        page.load(paper_report.as_uri())
        yield page
        page.close()
    finally:
        browser.close()


def test_browser_loads_offline_without_errors(loaded):
    assert loaded.problems() == []  # no console message, uncaught exception, log entry or dialog
    assert loaded.requests() == []  # nothing asked from the network
    survey = load_survey()
    headings = loaded.evaluate("Array.from(document.querySelectorAll('article.question h3')).map(h => h.textContent)")
    assert headings == [f"{survey.number(q.id)}. {q.heading or q.title}" for q in survey.questions]
    charts = loaded.evaluate("Array.from(document.querySelectorAll('figure svg')).map(s => "
                             "[s.querySelector(':scope > title')?.textContent || '', s.getBoundingClientRect().height])")
    assert len(charts) == 14 + 5 + 1
    assert all(title and height > 100 for title, height in charts)


def test_browser_screenshot_is_not_blank(loaded):
    import numpy as np
    from matplotlib import image

    pixels = image.imread(io.BytesIO(loaded.screenshot(1100, 1400)), format="png")[..., :3]
    ink = (pixels.min(axis=2) < 0.9).mean()
    assert 0.02 < ink < 0.6, ink  # text and bars on a white page
    assert np.unique((pixels * 255).astype(int).reshape(-1, 3), axis=0).shape[0] > 20


def test_browser_prints_a_part_per_page(loaded):
    import pypdf

    reader = pypdf.PdfReader(io.BytesIO(loaded.pdf()))
    survey = load_survey()
    parts = list(dict.fromkeys(part_title(q.part) for q in survey.questions))
    pages = [page.extract_text() for page in reader.pages]
    width, height = (float(x) for x in reader.pages[0].mediabox.upper_right)
    assert (round(width), round(height)) == (595, 842)  # A4 in points

    def first_line(text: str) -> str:
        lines = [line.strip() for line in text.splitlines()]
        # The running header (the title) and the page number are in the margins.
        return next(line for line in lines if line and not re.fullmatch(r"\d+ / \d+", line)
                    and line.replace(" ", "") != survey.survey.title.replace(" ", ""))

    starts = [i for i, text in enumerate(pages) if first_line(text) in parts]
    assert [first_line(pages[i]) for i in starts] == parts  # every part opens its own page, in order
    assert starts[0] >= 1  # the title and contents come first
    assert all(survey.survey.title.replace(" ", "") in text.replace(" ", "") for text in pages[1:])  # running header
    for chapter in ("Ход опроса", "Метод", "Приложение: сегменты по вопросу 1. Кто выполняет функции аккаунтинга"):
        assert any(first_line(text).startswith(chapter[:30]) for text in pages), chapter


def test_browser_shows_hostile_answers_as_text(loaded):
    assert loaded.evaluate("document.querySelectorAll('script').length") == 0
    assert loaded.evaluate("document.querySelectorAll('img, iframe, object, embed').length") == 0
    texts = loaded.evaluate("Array.from(document.querySelectorAll('#q1 ol.answers li')).map(li => li.textContent)")
    assert texts[-3:] == HOSTILE  # literal, in typing order (after the paper set's own); «{{ 7*7 }}» not evaluated
    assert "49" not in loaded.evaluate("document.querySelector('#q1 ol.answers').textContent")
    assert not [e for e in loaded.events if e["method"] == "Page.javascriptDialogOpening"]  # alert() never ran
    assert loaded.evaluate("typeof window.alert") == "function"


def test_cli_pdf(tmp_path, monkeypatch, capsys):
    from tests.chromium import chromium_path

    chromium_path()
    url = f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"
    asyncio.run(fill(url, "fixed"))
    code, out, err = run_cli(monkeypatch, capsys, tmp_path, url, "report", "-o", "study.html", "--pdf")
    assert code == 0, err
    import pypdf

    reader = pypdf.PdfReader(tmp_path / "study.pdf")
    assert len(reader.pages) > 4 and "Часть 1" in "".join(p.extract_text() for p in reader.pages)
    assert "wrote study.pdf" in out.replace(str(tmp_path) + "/", "")
    assert "file:" not in "".join(p.extract_text() for p in reader.pages)  # no browser header or footer


# In the chat -------------------------------------------------------------------------------------------


async def test_admin_report_is_a_document_and_non_admins_get_nothing(make_user, bot):
    _, request = bot
    u = make_user(7001)
    await u.begin()
    await u.press("Аккаунт-менеджеры")
    before = len(request.calls)
    await u.send("/report")
    assert [(name, p["text"]) for name, p in request.calls[before:]] == [("sendMessage", translator("ru").gettext(screens.UNKNOWN_COMMAND))]

    admin = make_user(ADMIN_ID)
    await admin.send("/report where 1=1 by 13")
    docs = [p for name, p in request.calls if name == "sendDocument" and int(p["chat_id"]) == ADMIN_ID]
    assert len(docs) == 1
    ((name, content),) = docs[0]["_files"].values()
    assert name.endswith("_filtered.html") and "фильтр: 1 = Аккаунт-менеджеры" in docs[0]["caption"]
    page = read_html(content.decode("utf-8"))
    assert page.one("dd", data_figure="started").text == "1"
    assert page.one("article", data_question="q01_who_does_accounting").attrs["data-n"] == "1"
    assert page.one("section", id="segments")

    await admin.send("/report where 1=3")
    assert "не попал ни один респондент" in admin.last().text
    await admin.send("/report charts")
    assert "Не понял запрос" in admin.last().text and "/report by 11" in admin.last().text
    await admin.send("/report by 99")
    assert "не построить" in admin.last().text
    assert len([1 for name, p in request.calls if name == "sendDocument"]) == 1
    assert '<html lang="ru">' in content.decode("utf-8")  # the admin reads Russian: so does the report

    await admin.send("/report lang de")
    assert admin.last().text == "Отчёт на этом языке не написать: анкета написана на языках: ru, en, а не на «de»."
    await admin.send("/report lang")
    assert "после lang нужен код языка" in admin.last().text and "/report lang en" in admin.last().text
    assert len([1 for name, p in request.calls if name == "sendDocument"]) == 1
    await admin.send("/report lang en")
    docs = [p for name, p in request.calls if name == "sendDocument" and int(p["chat_id"]) == ADMIN_ID]
    assert len(docs) == 2
    ((name, content),) = docs[1]["_files"].values()
    english = content.decode("utf-8")
    assert '<html lang="en">' in english and "<h2 id=\"toc-heading\">Contents</h2>" in english
    page = read_html(english)
    assert page.one("dd", data_figure="started").text == "1"
    assert page.one("article", data_question="q01_who_does_accounting").one("h3").text == \
        "1. Who handles account management in companies?"
    assert docs[1]["caption"].startswith("Отчёт «")  # the caption is the admin's, in the admin's language


async def test_second_questionnaire_text_answers_and_no_baseline(tmp_path):
    """A questionnaire without parts or baseline: one «Вопросы» section, no 2020 columns; a text question lists its
    first 50 answers and counts the rest; the number question without buckets gets its chart and mean."""
    from analytics.report import build_report, render_report
    from survey.loader import load_survey as load

    survey = load(Path(__file__).parent / "data" / "team_survey.yaml")
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'team.db'}")
    try:
        await upgrade(engine)
        rows = [{"response_id": i, "question_id": "t_wish", "choices": None, "number": None,
                 "text": f"пожелание {i}\nвторая строка <b>{i}</b>", "other_text": None, "skipped": False,
                 "answered_at": BASE + timedelta(seconds=i)} for i in range(1, 61)]
        rows += [{"response_id": i, "question_id": "t_team_size", "choices": None, "number": 2 + i % 30, "text": None,
                  "other_text": None, "skipped": False, "answered_at": BASE} for i in range(1, 61)]
        async with engine.begin() as conn:
            await conn.execute(insert(Respondent), [{"id": i, "user_key": f"t{i}", "first_seen": BASE} for i in range(1, 61)])
            await conn.execute(insert(Response), [
                {"id": i, "respondent_id": i, "survey_id": survey.id, "survey_version": 2, "status": COMPLETED,
                 "started_at": BASE, "completed_at": BASE + timedelta(minutes=2), "updated_at": BASE,
                 "awaiting_other": False, "version": 1} for i in range(1, 61)])
            await conn.execute(insert(Answer), rows)
        html = render_report(await build_report(engine, survey))
    finally:
        await engine.dispose()
    page = read_html(html)
    assert [h.text for h in page.all("h2")][1:] == ["Вопросы", "Ход опроса", "Метод"]
    wish = page.one("article", data_question="t_wish")
    answers = wish.one("ol")
    assert answers.attrs["data-texts"] == "60" and len(answers.all("li")) == 50
    assert answers.all("li")[0].text == "пожелание 1 вторая строка <b>1</b>"  # the tags are text
    assert "… и ещё 10" in wish.text
    assert wish.all("svg") == []  # a text question has no chart
    size = page.one("article", data_question="t_team_size")
    assert len(size.all("svg")) == 1 and size.attrs["data-mean"] != ""
    assert "2020" not in page.one("section", id="method").text and "data-base-percent" not in html


async def test_report_of_an_empty_database(tmp_path):
    """Before the first answer: the report is still a whole document (zeros, empty charts), never an error."""
    from analytics.report import build_report, render_report

    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    try:
        await upgrade(engine)
        html = render_report(await build_report(engine, load_survey(), banner="1"))
    finally:
        await engine.dispose()
    page = read_html(html)
    assert page.one("dd", data_figure="started").text == "0"
    assert len(page.all("article")) == 14 and all(a.attrs["data-n"] == "0" for a in page.all("article"))
    assert page.one("section", id="segments")
