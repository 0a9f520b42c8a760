"""Answer counts kept per survey, question and value, in the same transaction that stores the answers.

The full /stats (no filter, every response) reads these few hundred rows instead of grouping 1.4 M answers.
Each row of ``answer_counts`` counts the answer rows of one survey's responses (all statuses, as /stats counts
them) by ``kind``:

* ``"n"`` — answered (not skipped) answers of the question (value ``""``);
* ``"s"`` — skipped answers of the question (value ``""``);
* ``"v"`` — answered answers whose number is ``value`` (scales and numbers; the number as decimal text);
* ``"o"`` — rows of ``answer_choices`` for option ``value`` (a multiple choice counts every option chosen).

Every write of answers adjusts them in its own transaction: ``save_positions`` (storage/repository.py) for the
respondent flow (a new answer, an answer rewritten after Back, a deleted one, a response started over),
``discount_responses`` before deleting whole responses (/forget_me, ``/test reset``). A database written some
other way (rows inserted by hand, an old copy) is caught by ``survey_counts``: the totals of the counts must
equal the rows of ``answers`` and ``answer_choices``, or the reader falls back to counting the answers.
``recount`` rebuilds them from the stored answers (the migration's backfill does the same).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast as typed

from sqlalchemy import Connection, Select, String, Table, bindparam, cast, delete, false, func, literal, select, true
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.models import Answer as AnswerRow, AnswerChoice, AnswerCount, Response
from survey.flow import Answer

ANSWERED, SKIPPED, VALUE, OPTION = "n", "s", "v", "o"

_COUNTS = typed(Table, AnswerCount.__table__)
Key = tuple[str, str, str]  # (question id, kind, value)


def answer_keys(question_id: str, answer: Answer) -> Iterable[Key]:
    """The count keys one stored answer adds to (its answer row, its number, its ``answer_choices`` rows)."""
    if answer.skipped:
        yield question_id, SKIPPED, ""
    else:
        yield question_id, ANSWERED, ""
        if answer.number is not None:
            yield question_id, VALUE, str(answer.number)
    for option_id in answer.option_ids:
        yield question_id, OPTION, option_id


def _upsert(dialect: str) -> Any:
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(_COUNTS).values(survey_id=bindparam("b_survey"), question_id=bindparam("b_question"),
                                  kind=bindparam("b_kind"), value=bindparam("b_value"), n=bindparam("b_n"))
    return stmt.on_conflict_do_update(index_elements=["survey_id", "question_id", "kind", "value"],
                                      set_={"n": _COUNTS.c.n + stmt.excluded.n})


def _rows(survey_id: str, delta: Counter[Key]) -> list[dict[str, Any]]:
    # Sorted: concurrent writers (PostgreSQL) lock the shared rows in one order, so they wait, never deadlock.
    return [{"b_survey": survey_id, "b_question": q, "b_kind": k, "b_value": v, "b_n": n}
            for (q, k, v), n in sorted(delta.items()) if n]


def apply_delta(conn: Connection, survey_id: str, delta: Counter[Key]) -> None:
    """Add ``delta`` (negative to take away) to the survey's counts, inside the caller's transaction."""
    rows = _rows(survey_id, delta)
    if rows:
        conn.execute(_upsert(conn.dialect.name), rows)


# Reading -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SurveyCounts:
    """One survey's counts: answered / skipped per question, values of numbers, options chosen."""

    answered: dict[str, int]
    skipped: dict[str, int]
    values: dict[str, dict[int, int]]
    options: dict[str, dict[str, int]]


async def survey_counts(conn: AsyncConnection, survey_id: str) -> SurveyCounts | None:
    """The kept counts of a survey's answers; None when they do not add up to the stored rows (then count)."""
    totals = dict((await conn.execute(select(_COUNTS.c.kind, func.sum(_COUNTS.c.n)).group_by(_COUNTS.c.kind))).all())
    answers = await conn.scalar(select(func.count()).select_from(AnswerRow)) or 0
    choices = await conn.scalar(select(func.count()).select_from(AnswerChoice)) or 0
    if int(totals.get(ANSWERED) or 0) + int(totals.get(SKIPPED) or 0) != answers or int(totals.get(OPTION) or 0) != choices:
        return None
    counts = SurveyCounts({}, {}, {}, {})
    rows = await conn.execute(select(_COUNTS.c.question_id, _COUNTS.c.kind, _COUNTS.c.value, _COUNTS.c.n)
                              .where(_COUNTS.c.survey_id == survey_id, _COUNTS.c.n != 0))
    for question_id, kind, value, n in rows:
        match kind:
            case "n":
                counts.answered[question_id] = n
            case "s":
                counts.skipped[question_id] = n
            case "v":
                counts.values.setdefault(question_id, {})[int(value)] = n
            case "o":
                counts.options.setdefault(question_id, {})[value] = n
            case _:
                raise ValueError(f"answer_counts: unknown kind {kind!r}")
    return counts


# Deleting whole responses, and counting anew -------------------------------------------------------


def _grouped(response_ids: Any = None) -> list[Select[Any]]:
    """The counts as GROUP BY queries over the stored rows: (survey, question, kind, value, n)."""
    a, c, r = AnswerRow.__table__, AnswerChoice.__table__, Response.__table__
    answers = a.join(r, r.c.id == a.c.response_id)
    skipped = select(r.c.survey_id, a.c.question_id, literal(SKIPPED).label("kind"), literal("").label("value"),
                     func.count().label("n")).select_from(answers).where(a.c.skipped == true())
    answered = select(r.c.survey_id, a.c.question_id, literal(ANSWERED).label("kind"), literal("").label("value"),
                      func.count().label("n")).select_from(answers).where(a.c.skipped == false())
    values = select(r.c.survey_id, a.c.question_id, literal(VALUE).label("kind"),
                    cast(a.c.number, String).label("value"), func.count().label("n")).select_from(answers).where(
        a.c.skipped == false(), a.c.number.is_not(None))
    options = select(r.c.survey_id, c.c.question_id, literal(OPTION).label("kind"), c.c.option_id.label("value"),
                     func.count().label("n")).select_from(c.join(r, r.c.id == c.c.response_id))
    out = []
    for stmt, by in ((skipped, [r.c.survey_id, a.c.question_id]), (answered, [r.c.survey_id, a.c.question_id]),
                     (values, [r.c.survey_id, a.c.question_id, a.c.number]),
                     (options, [r.c.survey_id, c.c.question_id, c.c.option_id])):
        if response_ids is not None:
            stmt = stmt.where(r.c.id.in_(response_ids))
        out.append(stmt.group_by(*by))
    return out


async def discount_responses(conn: AsyncConnection, response_ids: Any) -> None:
    """Take the answers of these responses (ids, or a SELECT of them) out of the counts, before they are deleted."""
    delta: dict[str, Counter[Key]] = {}
    for stmt in _grouped(response_ids):
        for survey_id, question_id, kind, value, n in await conn.execute(stmt):
            delta.setdefault(survey_id, Counter())[(question_id, kind, value)] -= n
    for survey_id, counts in delta.items():
        rows = _rows(survey_id, counts)
        if rows:
            await conn.execute(_upsert(conn.dialect.name), rows)


def recounted(conn: Connection) -> dict[tuple[str, str, str, str], int]:
    """The counts as the stored answers give them now: (survey, question, kind, value) -> n."""
    return {(s, q, k, v): n for stmt in _grouped() for s, q, k, v, n in conn.execute(stmt) if n}


def kept(conn: Connection) -> dict[tuple[str, str, str, str], int]:
    """The counts as kept in ``answer_counts`` (zeros left out)."""
    c = _COUNTS.c
    return {(s, q, k, v): n for s, q, k, v, n in conn.execute(select(c.survey_id, c.question_id, c.kind, c.value, c.n))
            if n}


def recount(conn: Connection) -> None:
    """Rebuild every count from the stored answers (inside the caller's transaction)."""
    conn.execute(delete(_COUNTS))
    for stmt in _grouped():
        conn.execute(_COUNTS.insert().from_select(["survey_id", "question_id", "kind", "value", "n"], stmt))


__all__ = ["ANSWERED", "OPTION", "SKIPPED", "VALUE", "SurveyCounts", "answer_keys", "apply_delta",
           "discount_responses", "kept", "recount", "recounted", "survey_counts"]
