"""Cross-tabs: a question's answers by the options of a banner question (or by source), with tests.

Counts come from SQL: the row question's answers joined to the banner's (one row per response and
banner column) and grouped, on the respondents the filter keeps; pandas shapes the counts into
tables (``crosstab``), scipy tests them (``analytics.significance``).

* Columns: the banner's options in questionnaire order ("other" last), a scale's low / middle /
  high groups, a number question's buckets, or the sources found; then «Все» — everyone who
  answered the row question (also those who skipped the banner question).
* Cells: the column percentage of the column base (who answered the row question in that column;
  multiple choice: of its respondents) and the count; ▲ / ▼ where the adjusted standardized
  residual is beyond ±1.96.
* Tests: single choice — chi-square test of independence on the whole table (Fisher for a sparse
  2×2), with Cramér's V; multiple choice — each option on its own 2×k table (chose / did not);
  scale and number — mean and median per column and the Kruskal–Wallis test. A multiple-choice
  banner puts a respondent in several columns, so no test runs on it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, assert_never

from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.filters import Filter, resolve_filter
from analytics.significance import TestResult, adjusted_residuals, independence, kruskal, mark
from analytics.summary import as_float, mean_from, median_from, percent, range_label, scale_groups
from storage.db import read_only
from storage.models import COMPLETED, Answer as AnswerRow, AnswerChoice, Respondent, Response
from survey.i18n import FALLBACK_LANGUAGE, N_, LocalizedError, Translator, translator
from survey.model import CHOICE_TYPES, NUMERIC_TYPES, OTHER, Question, QuestionType, Survey

if TYPE_CHECKING:  # pandas is imported where a table is built: the bot starts ~0.25 s sooner without it
    import pandas as pd

SOURCE = "source"
NO_SOURCE_LABEL = N_("no label")
GROUP_NAMES = {"low": N_("low"), "middle": N_("middle"), "high": N_("high")}


class CrosstabError(LocalizedError):
    """A banner or row question that cannot be tabulated; ``text(t)`` says it in one line."""


@dataclass(frozen=True)
class Column:
    """One banner column."""

    key: str
    label: str


@dataclass
class Banner:
    """What the columns are: a question's options (or groups, buckets) or the respondents' sources."""

    id: str  # question id, or "source"
    number: int | None
    title: str
    columns: list[Column]
    overlapping: bool = False  # multiple choice: one respondent may sit in several columns
    question: Question | None = None

    @property
    def name(self) -> str:
        """How headers name it: "1. Кто выполняет…" or "источник"."""
        return f"{self.number}. {self.title}" if self.number else self.title


@dataclass(frozen=True)
class Cell:
    """A count, its column percentage and its significance mark."""

    count: int
    percent: Decimal | None
    mark: str = ""


@dataclass(frozen=True)
class TableRow:
    """One option of the row question across the columns, with «Все» last."""

    key: str
    label: str
    cells: list[Cell]
    total: Cell
    test: TestResult | None = None  # multiple choice: this option's own 2×k test


@dataclass
class CrossTab:
    """One row question crossed by the banner."""

    id: str
    number: int
    title: str
    type: QuestionType
    banner: Banner
    bases: list[int]
    total_base: int
    rows: list[TableRow] = field(default_factory=list)
    means: list[Decimal | None] = field(default_factory=list)  # scale / number: per column, then «Все»
    medians: list[Decimal | None] = field(default_factory=list)
    test: TestResult | None = None
    note: str | None = None
    language: str = FALLBACK_LANGUAGE  # of its own words (notes, headers, the test in words)

    @property
    def is_numeric(self) -> bool:
        """Scale or number: mean and median per column instead of option rows."""
        return self.type in NUMERIC_TYPES

    @property
    def tests_each_option(self) -> bool:
        """Multiple choice: each option (row) is tested on its own, a 2×k table, and the shares add up to more
        than 100%; the other types have one test of the whole table."""
        match self.type:
            case QuestionType.MULTIPLE:
                return True
            case QuestionType.SINGLE | QuestionType.SCALE | QuestionType.NUMBER | QuestionType.TEXT:
                return False
            case _ as unreachable:
                assert_never(unreachable)


def _question_ref(survey: Survey, ref: str) -> Question:
    ref = str(ref).strip()
    for q in survey.questions:
        if q.id == ref or (ref.isdigit() and survey.number(q.id) == int(ref)):
            return q
    raise CrosstabError(N_("there is no question «{ref}» in the questionnaire (a number 1–{count} or an id)"), ref=ref,
                        count=len(survey.questions))


def resolve_banner(survey: Survey, ref: str, t: Translator | None = None) -> Banner:
    """The banner named by a question number or id, or ``source`` (its own labels in ``t``'s language)."""
    t = t or translator(None)
    if str(ref).strip().lower() == SOURCE:
        return Banner(SOURCE, None, t.gettext("source"), [])  # columns: the sources found in the data
    q = _question_ref(survey, ref)
    number = survey.number(q.id)
    # The banners' one dispatch on the question type; a type without a case fails loudly (assert_never).
    match q.type:
        case QuestionType.SINGLE | QuestionType.MULTIPLE:
            columns = [Column(o.id, o.text) for o in q.options]
            if q.other_allowed:
                columns.append(Column(OTHER, survey.other_label(q)))
            return Banner(q.id, number, q.short_title, columns, overlapping=q.type == QuestionType.MULTIPLE, question=q)
        case QuestionType.SCALE:
            assert q.scale is not None  # the model requires it for scales
            columns = [Column(key, f"{t.gettext(GROUP_NAMES[key])} ({range_label(lo, hi)})") for key, lo, hi in
                       scale_groups(q.scale.min, q.scale.max)]
            return Banner(q.id, number, q.short_title, columns, question=q)
        case QuestionType.NUMBER:
            if not q.buckets:
                raise CrosstabError(N_("question {number} is a number without intervals (buckets): it cannot split "
                                       "into columns"), number=number)
            columns = [Column(label, range_label(lo, hi)) for label, lo, hi in q.bucket_bounds()]
            return Banner(q.id, number, q.short_title, columns, question=q)
        case QuestionType.TEXT:
            raise CrosstabError(N_("question {number} is free text: it cannot split into columns"), number=number)
        case _ as unreachable:
            assert_never(unreachable)


def _banner_rows(banner: Banner) -> Any:
    """SELECT response_id, col: the banner column(s) of every response."""
    if banner.id == SOURCE:
        return (
            select(Response.id.label("response_id"), func.coalesce(Respondent.source, literal("")).label("col"))
            .join(Respondent, Respondent.id == Response.respondent_id)
        )
    q = banner.question
    assert q is not None  # every banner but the source is a question
    ranges: list[tuple[str, int, int | None]]
    match q.type:
        case QuestionType.SINGLE | QuestionType.MULTIPLE:
            return select(AnswerChoice.response_id.label("response_id"), AnswerChoice.option_id.label("col")).where(
                AnswerChoice.question_id == q.id
            )
        case QuestionType.SCALE:
            assert q.scale is not None  # the model requires it for scales
            ranges = [(key, lo, hi) for key, lo, hi in scale_groups(q.scale.min, q.scale.max)]
        case QuestionType.NUMBER:
            ranges = [(label, lo, hi) for label, lo, hi in q.bucket_bounds()]
        case QuestionType.TEXT:
            raise CrosstabError(N_("a text question is never a banner (resolve_banner refuses it)"))
        case _ as unreachable:
            assert_never(unreachable)
    whens = [
        (and_(AnswerRow.number >= lo, AnswerRow.number <= hi) if hi is not None else AnswerRow.number >= lo, literal(key))
        for key, lo, hi in ranges
    ]
    return select(AnswerRow.response_id.label("response_id"), case(*whens, else_=literal("")).label("col")).where(
        AnswerRow.question_id == q.id, AnswerRow.skipped == False, AnswerRow.number.is_not(None)  # noqa: E712
    )


def _counted(survey: Survey, where: Filter | None, completed_only: bool) -> Any:
    tests = [Response.survey_id == survey.id]
    if completed_only:
        tests.append(Response.status == COMPLETED)
    if where is not None:
        tests.append(where.predicate())
    return select(Response.id).where(*tests)


async def _gather(
    engine: AsyncEngine, survey: Survey, questions: list[Question], banner: Banner, where: Filter | None,
    completed_only: bool,
) -> dict[str, pd.DataFrame]:
    """The grouped counts (by banner column, and overall as col NULL) of the row questions.

    Two GROUP BY queries per side: answers by (question, number) — the bases, and the values of
    scales and numbers — and selected options by (question, option). The overall side runs on the
    covering indexes alone; the banner side joins each row answer to its response's banner answer.
    """
    import pandas as pd

    b = _banner_rows(banner).subquery("b")
    ids = [q.id for q in questions]
    choice_ids = [q.id for q in questions if q.type in CHOICE_TYPES]
    out: dict[str, list] = {"answers": [], "choices": []}
    async with read_only(engine).begin() as conn:
        counted = _counted(survey, await resolve_filter(conn, survey, where), completed_only)
        n_counted = await conn.scalar(select(func.count()).select_from(counted.subquery())) or 0
        n_all = await conn.scalar(select(func.count()).select_from(Response)) or 0

        def restrict(column: Any) -> list:
            # Every response counts (the usual case): no per-row membership test at all.
            return [] if n_counted == n_all else [column.in_(counted)]

        async def grouped(name: str, columns: list, table: Any, tests: list) -> None:
            by_col = (
                select(b.c.col, *columns, func.count())
                .select_from(table)
                .join(b, b.c.response_id == table.response_id)
                .where(*tests)
                .group_by(b.c.col, *columns)
            )
            overall = select(literal(None).label("col"), *columns, func.count()).where(*tests).group_by(*columns)
            for stmt in (by_col, overall):
                out[name] += [tuple(r) for r in await conn.execute(stmt)]

        await grouped("answers", [AnswerRow.question_id, AnswerRow.number], AnswerRow,
                      [AnswerRow.question_id.in_(ids), AnswerRow.skipped == False,  # noqa: E712
                       *restrict(AnswerRow.response_id)])
        if choice_ids:
            await grouped("choices", [AnswerChoice.question_id, AnswerChoice.option_id], AnswerChoice,
                          [AnswerChoice.question_id.in_(choice_ids), *restrict(AnswerChoice.response_id)])
    answers = pd.DataFrame(out["answers"], columns=["col", "qid", "value", "count"])
    return {
        "bases": answers.groupby(["col", "qid"], dropna=False, as_index=False)["count"].sum(),
        "choices": pd.DataFrame(out["choices"], columns=["col", "qid", "option", "count"]),
        "numbers": answers[answers["value"].notna()],
    }


TOTAL = "\x00all"  # the «Все» column's key inside the frames (never an option id or source)


def _columns_from_data(t: Translator, banner: Banner, frames: dict[str, pd.DataFrame]) -> None:
    """Source banners: the sources present, largest first, "no tag" last."""
    if banner.id != SOURCE:
        return
    bases = frames["bases"]
    sizes = bases[bases["col"].notna()].groupby("col")["count"].max().sort_values(ascending=False)
    keys = [k for k in sizes.index if k != ""] + ([""] if "" in sizes.index else [])
    banner.columns = [Column(k, k or t.gettext(NO_SOURCE_LABEL)) for k in keys]


def _table(frame: pd.DataFrame, index: str, keys: list[str], rows: list) -> pd.DataFrame:
    import pandas as pd

    """pandas.crosstab of grouped counts, rows and columns in the given order, zeros filled in."""
    if frame.empty:
        return pd.DataFrame(0, index=rows, columns=keys + [TOTAL])
    cols = frame["col"].astype(object).where(frame["col"].notna(), TOTAL)  # the overall counts come with col NULL
    table = pd.crosstab(index=frame[index], columns=cols, values=frame["count"], aggfunc="sum")
    return table.reindex(index=rows, columns=keys + [TOTAL]).fillna(0).astype(int)


def _cell(count: int, base: int, residual: float | None = None) -> Cell:
    return Cell(int(count), percent(int(count), int(base)), mark(residual) if residual is not None else "")


def _build(t: Translator, survey: Survey, q: Question, banner: Banner, frames: dict[str, pd.DataFrame]) -> CrossTab:
    import numpy as np  # loaded with the first test or table, not at the bot's start
    keys = [c.key for c in banner.columns]
    base_frame = frames["bases"][frames["bases"]["qid"] == q.id]
    base_row = _table(base_frame.assign(row="n"), "row", keys, ["n"]).iloc[0]
    bases = [int(base_row[k]) for k in keys]
    total_base = int(base_row[TOTAL])
    tab = CrossTab(q.id, survey.number(q.id), q.short_title, q.type, banner, bases, total_base, language=t.language)
    testable = not banner.overlapping
    if banner.overlapping:
        tab.note = t.gettext("The columns overlap (several options of the banner question could be chosen): no test "
                             "applies.")
    match q.type:  # a type without a case fails loudly (assert_never)
        case QuestionType.SINGLE | QuestionType.MULTIPLE:
            options = q.option_ids + ([OTHER] if q.other_allowed else [])
            frame = frames["choices"][frames["choices"]["qid"] == q.id]
            counts = _table(frame, "option", keys, options)
            observed = counts[keys].to_numpy()
            if q.type == QuestionType.SINGLE:
                residuals = adjusted_residuals(observed) if testable else None
                tab.test = independence(observed) if testable else None
                for i, option_id in enumerate(options):
                    cells = [_cell(observed[i, j], bases[j], None if residuals is None else residuals[i, j])
                             for j in range(len(keys))]
                    total = _cell(counts.loc[option_id, TOTAL], total_base)
                    tab.rows.append(TableRow(option_id, q.option_label(option_id, survey.other_label(q)), cells, total))
            else:
                for i, option_id in enumerate(options):
                    chose = observed[i]
                    two_by_k = np.vstack([chose, np.maximum(np.array(bases) - chose, 0)])
                    residuals = adjusted_residuals(two_by_k)[0] if testable else None
                    cells = [_cell(chose[j], bases[j], None if residuals is None else residuals[j]) for j in range(len(keys))]
                    total = _cell(counts.loc[option_id, TOTAL], total_base)
                    test = independence(two_by_k) if testable else None
                    tab.rows.append(TableRow(option_id, q.option_label(option_id, survey.other_label(q)), cells, total, test))
        case QuestionType.SCALE | QuestionType.NUMBER:
            frame = frames["numbers"][frames["numbers"]["qid"] == q.id]
            groups = []
            for key in keys + [TOTAL]:
                part = frame[frame["col"].isna()] if key == TOTAL else frame[frame["col"] == key]
                distribution = sorted((int(v), int(c)) for v, c in zip(part["value"], part["count"]))
                n = sum(c for _, c in distribution)
                tab.means.append(mean_from(distribution, n))
                tab.medians.append(median_from(distribution, n))
                if key != TOTAL:
                    groups.append(np.repeat([v for v, _ in distribution], [c for _, c in distribution]))
            tab.test = kruskal(groups) if testable else None
        case QuestionType.TEXT:
            tab.note = t.gettext("Free text: it does not make a table.")
        case _ as unreachable:
            assert_never(unreachable)
    return tab


async def build_crosstabs(
    engine: AsyncEngine,
    survey: Survey,
    banner_ref: str,
    rows: list[str] | None = None,
    *,
    where: Filter | None = None,
    completed_only: bool = False,
    language: str | None = None,
) -> list[CrossTab]:
    """Cross-tabs of the row questions (numbers or ids; every other question when None) by the banner (its own
    words in ``language``; default: the fallback language)."""
    t = translator(language)
    banner = resolve_banner(survey, banner_ref, t)
    if rows is None:
        questions = [q for q in survey.questions if q.id != banner.id and q.type != QuestionType.TEXT]
    else:
        questions = [_question_ref(survey, r) for r in rows]
        for q in questions:
            if q.type == QuestionType.TEXT:
                raise CrosstabError(N_("question {number} is free text: it does not make a table"),
                                    number=survey.number(q.id))
            if q.id == banner.id:
                raise CrosstabError(N_("a question cannot be split by itself"))
    frames = await _gather(engine, survey, questions, banner, where, completed_only)

    def shape() -> list[CrossTab]:
        _columns_from_data(t, banner, frames)
        return [_build(t, survey, q, banner, frames) for q in questions]

    # pandas and scipy work off the event loop: respondents keep being answered meanwhile.
    return await asyncio.to_thread(shape)


# JSON -----------------------------------------------------------------------------------


def test_json(test: TestResult | None) -> dict[str, Any] | None:
    """A test as {name, statistic, df, p_value, cramers_v, unreliable}."""
    if test is None:
        return None
    return {"name": test.name, "statistic": test.statistic, "df": test.df, "p_value": test.p_value,
            "cramers_v": test.cramers_v, "unreliable": test.unreliable}


def add_to_json(data: dict[str, Any], tables: list[CrossTab]) -> dict[str, Any]:
    """Add ``banner``, and per crossed question ``segments`` and ``test``, to the summary JSON."""
    if not tables:
        return data
    banner = tables[0].banner
    data["banner"] = {"id": banner.id, "number": banner.number, "title": banner.title,
                      "columns": [{"id": c.key, "label": c.label} for c in banner.columns]}
    by_id = {t.id: t for t in tables}
    for qj in data["questions"]:
        t = by_id.get(qj["id"])
        if t is None:
            continue
        segments = {}
        for j, column in enumerate(banner.columns):
            seg: dict[str, Any] = {"label": column.label, "n": t.bases[j], "options": [], "mean": None, "median": None}
            for row in t.rows:
                cell = row.cells[j]
                seg["options"].append({"id": row.key, "label": row.label, "count": cell.count,
                                       "percent": as_float(cell.percent), "mark": cell.mark or None})
            if t.is_numeric:
                seg["mean"], seg["median"] = as_float(t.means[j]), as_float(t.medians[j])
            segments[column.key] = seg
        qj["segments"] = segments
        qj["test"] = test_json(t.test)
        if t.tests_each_option:
            tests = {row.key: test_json(row.test) for row in t.rows}
            for option in qj["options"]:
                option["test"] = tests.get(option["id"])
    return data


async def count_respondents(engine: AsyncEngine, survey: Survey, where: Filter | None = None,
                            completed_only: bool = False) -> int:
    """How many responses the filter keeps (a cheap check before building tables)."""
    async with read_only(engine).connect() as conn:
        counted = _counted(survey, await resolve_filter(conn, survey, where), completed_only).subquery()
        return int(await conn.scalar(select(func.count()).select_from(counted)) or 0)
