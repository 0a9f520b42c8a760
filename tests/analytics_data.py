"""Data sets for the analytics tests: a fixed hand-made one and a large generated one.

The fixed set (``FIXED``) on the bundled accounting survey, 100 responses R1..R100:

* R1..R90 completed, R91..R100 in progress.
* q01 (single): R1-54 account_managers, R55-74 ceo, R75-84 executors, R85-88 dept_or_group_head,
  R89-93 other (typed texts), R94-97 skipped; R98-100 stand on q01 (never reached it).
  -> n 93, skipped 4, not reached 3; 54/93 = 58.1 %.
* q02 (multiple): R1..R8 answer (sets below, 16 selections, invoicing 1/8 = 12.5 %),
  R9..R90 skip; R91..R97 stand on q02.
* q03 (single): R1-2 account_director, R3 no_account_dept (2/3 = 66.7 %), R4..R90 skip.
* q05 (scale 1-10): R1..R10 give 1..10, R11-12 give 10, R13..R90 skip.
* q12 (number): R1..R8 give 1, 5, 6, 15, 16, 50, 100, 250; R9..R90 skip.
* q13 (single): R1-45 moscow, R46-75 spb, R76-90 other ("Страна 76" ...).
* every other question: R1..R90 skip.
* R101 answered q01 in another survey (must never be counted).

Times: response i starts at BASE + i minutes, answers question k (0-based) at +k+1 seconds,
completed responses finish at start + 60*i seconds.
"""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.answer_counts import recount
from storage.models import COMPLETED, IN_PROGRESS, Answer, AnswerChoice, Respondent, Response
from survey.model import OTHER, QuestionType, Survey

BASE = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
HYPERLINK = '=HYPERLINK("http://evil.example","click")'

Q01_OTHER_TEXTS = {
    89: "Руководитель + помощница",
    90: HYPERLINK,
    91: "Проджект <b>&</b> аккаунт",
    92: "Менеджер проекта",
    93: "@everyone",
}
Q02_SETS = {
    1: ["client_communication", "consulting", "upsell"],
    2: ["client_communication", "consulting"],
    3: ["client_communication", OTHER],
    4: ["client_communication", "reporting"],
    5: ["client_communication"],
    6: ["consulting", "reporting"],
    7: ["client_communication", "invoicing"],
    8: ["upsell", OTHER],
}
Q02_OTHER_TEXTS = {3: "Ведение соцсетей", 8: "-1+1"}
Q05_VALUES = {i: i for i in range(1, 11)} | {11: 10, 12: 10}
Q12_VALUES = dict(zip(range(1, 9), [1, 5, 6, 15, 16, 50, 100, 250]))


def _q01(i: int) -> tuple[list[str], str | None] | None:
    if i <= 54:
        return ["account_managers"], None
    if i <= 74:
        return ["ceo"], None
    if i <= 84:
        return ["executors"], None
    if i <= 88:
        return ["dept_or_group_head"], None
    if i <= 93:
        return [OTHER], Q01_OTHER_TEXTS[i]
    return None


def fixed_answers(i: int, survey: Survey) -> dict[str, dict]:
    """The answer rows (by question id) of response i of the fixed set."""
    out: dict[str, dict] = {}
    if i >= 98:
        return out
    q01 = _q01(i)
    out["q01_who_does_accounting"] = (
        {"choices": q01[0], "other_text": q01[1]} if q01 else {"skipped": True}
    )
    if i > 90:
        return out  # in progress: nothing after q01
    for q in survey.questions[1:]:
        out[q.id] = {"skipped": True}
    if i in Q02_SETS:
        out["q02_am_functions"] = {"choices": Q02_SETS[i], "other_text": Q02_OTHER_TEXTS.get(i)}
    if i <= 3:
        out["q03_org_structure"] = {"choices": ["account_director" if i <= 2 else "no_account_dept"]}
    if i in Q05_VALUES:
        out["q05_subcontractor_rating"] = {"number": Q05_VALUES[i]}
    if i in Q12_VALUES:
        out["q12_company_size"] = {"number": Q12_VALUES[i]}
    if i <= 45:
        out["q13_region"] = {"choices": ["moscow"]}
    elif i <= 75:
        out["q13_region"] = {"choices": ["spb"]}
    else:
        out["q13_region"] = {"choices": [OTHER], "other_text": f"Страна {i}"}
    return out


def fixed_current(i: int) -> str | None:
    """Where response i of the fixed set stands (None when completed)."""
    if i <= 90:
        return None
    return "q02_am_functions" if i <= 97 else "q01_who_does_accounting"


def _updated_at(i: int, start: datetime, survey: Survey) -> datetime:
    if i <= 90 or i == 101:
        return start + timedelta(seconds=60 * i)
    rows = fixed_answers(i, survey) if i <= 100 else {}
    return start + timedelta(seconds=max((survey.index(q) + 1 for q in rows), default=0))


async def insert_fixed(engine: AsyncEngine, survey: Survey) -> None:
    """Insert the fixed data set described in the module docstring."""
    respondents, responses, answers, choices = [], [], [], []
    for i in range(1, 102):
        start = BASE + timedelta(minutes=i)
        respondents.append({"id": i, "user_key": f"u{i:03d}", "first_seen": start, "source": "channel" if i % 2 == 0 else None})
        done = i <= 90
        responses.append(
            {
                "id": i,
                "respondent_id": i,
                "survey_id": survey.id if i <= 100 else "another_survey",
                "survey_version": survey.version,
                "status": COMPLETED if done or i == 101 else IN_PROGRESS,
                "started_at": start,
                "completed_at": start + timedelta(seconds=60 * i) if done or i == 101 else None,
                # As the repository writes it: bumped with every answer (and at completion).
                "updated_at": _updated_at(i, start, survey),
                "current_question": fixed_current(i) if i <= 100 else None,
                "awaiting_other": False,
                "version": 1,
            }
        )
        rows = fixed_answers(i, survey) if i <= 100 else {"q01_who_does_accounting": {"choices": ["ceo"]}}
        for qid, row in rows.items():
            k = survey.index(qid)
            opts = row.get("choices") or []
            answers.append(
                {
                    "response_id": i,
                    "question_id": qid,
                    "choices": ",".join(opts) or None,
                    "number": row.get("number"),
                    "text": row.get("text"),
                    "other_text": row.get("other_text"),
                    "skipped": row.get("skipped", False),
                    "answered_at": start + timedelta(seconds=k + 1),
                }
            )
            choices.extend({"response_id": i, "question_id": qid, "option_id": o} for o in opts)
    async with engine.begin() as conn:
        await conn.execute(insert(Respondent), respondents)
        await conn.execute(insert(Response), responses)
        await conn.execute(insert(Answer), answers)
        await conn.execute(insert(AnswerChoice), choices)
        await conn.run_sync(recount)  # the answer counts the bot keeps with every write (storage/answer_counts.py)


async def insert_2020_copy(engine, survey) -> None:
    """The paper data set: 99 completed responses whose answers to q1-q5 give exactly the counts and n the 2020
    article published (the study's «ответы 99 респондентов»); the other questions are not reached."""
    answers, choices = [], []
    for qid in ("q01_who_does_accounting", "q02_am_functions", "q03_org_structure", "q04_subcontractors",
                "q05_subcontractor_rating"):
        q = survey.get(qid)
        b = q.baseline
        picks: dict[int, list] = {i: [] for i in range(1, b.n + 1)}
        if q.type.value == "multiple_choice":
            start = 0
            for key, f in b.options.items():  # consecutive windows, so every respondent picks something
                for k in range(f.count):
                    picks[(start + k) % b.n + 1].append(key)
                start = (start + f.count) % b.n
        elif q.type.value == "single_choice":
            i = 1
            for key, f in b.options.items():
                for _ in range(f.count):
                    picks[i].append(key)
                    i += 1
        else:  # the scale: 3 x "1", 51 in 4-7, the other 12 on 2, 3 and 8-10
            values = [1] * 3 + [4, 5, 6, 7] * 12 + [5, 6, 7] + [2, 3, 8, 9, 10, 10, 2, 3, 8, 9, 10, 9]
            assert len(values) == b.n
            picks = {i + 1: v for i, v in enumerate(values)}
        for i in range(1, 100):
            row = {"response_id": i, "question_id": qid, "choices": None, "number": None, "text": None,
                   "other_text": None, "skipped": i > b.n, "answered_at": BASE}
            if i <= b.n and isinstance(picks[i], int):
                row["number"] = picks[i]
            elif i <= b.n:
                row["choices"] = ",".join(picks[i])
                row["other_text"] = "свой ответ" if "other" in picks[i] else None
                choices += [{"response_id": i, "question_id": qid, "option_id": o} for o in picks[i]]
            answers.append(row)
    async with engine.begin() as conn:
        await conn.execute(insert(Respondent), [{"id": i, "user_key": f"w{i}", "first_seen": BASE} for i in range(1, 100)])
        await conn.execute(insert(Response), [
            {"id": i, "respondent_id": i, "survey_id": survey.id, "survey_version": 1, "status": COMPLETED,
             "started_at": BASE + timedelta(minutes=i), "completed_at": BASE + timedelta(minutes=i + 5),
             "updated_at": BASE, "awaiting_other": False, "version": 1} for i in range(1, 100)])
        await conn.execute(insert(Answer), answers)
        await conn.execute(insert(AnswerChoice), choices)
        await conn.run_sync(recount)  # the answer counts the bot keeps with every write (storage/answer_counts.py)


def _ts(dt: datetime) -> str:
    # The storage format SQLAlchemy's SQLite DateTime writes.
    return dt.strftime("%Y-%m-%d %H:%M:%S.%f")


def populate_large(path: str, survey: Survey, responses: int = 100_000, seed: int = 1) -> int:
    """Fill a migrated SQLite file with random responses quickly (plain sqlite3); returns answer rows."""
    rnd = random.Random(seed)
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    total = 0
    with con:
        resp_rows, ans_rows, ch_rows, person_rows = [], [], [], []
        for i in range(1, responses + 1):
            start = BASE + timedelta(seconds=30 * i)
            complete = rnd.random() < 0.9
            person_rows.append((i, f"k{i}", _ts(start), rnd.choice(["ads", "channel", None])))
            upto = len(survey.questions) if complete else rnd.randrange(0, len(survey.questions))
            resp_rows.append(
                (
                    i, i, survey.id, survey.version, COMPLETED if complete else IN_PROGRESS, _ts(start),
                    _ts(start + timedelta(seconds=rnd.randrange(60, 1800))) if complete else None,
                    _ts(start), None if complete else survey.questions[upto].id, 0, 1,
                )
            )
            for k, q in enumerate(survey.questions[:upto]):
                at = _ts(start + timedelta(seconds=k + 1))
                if rnd.random() < 0.05:
                    ans_rows.append((i, q.id, None, None, None, None, 1, at))
                    continue
                opts: list[str] = []
                number = other = None
                # "Other" is picked now and then, as in real answers (about 4 %).
                with_other = q.other_allowed and rnd.random() < 0.04
                if q.type == QuestionType.SINGLE:
                    opts = [OTHER] if with_other else [rnd.choice(q.option_ids)]
                elif q.type == QuestionType.MULTIPLE:
                    ids = q.option_ids
                    opts = sorted(rnd.sample(ids, rnd.randint(1, min(5, len(ids)))), key=ids.index)
                    opts += [OTHER] if with_other else []
                elif q.type == QuestionType.SCALE:
                    number = rnd.randint(q.scale.min, q.scale.max)
                elif q.type == QuestionType.NUMBER:
                    number = int(rnd.lognormvariate(3, 1.2)) + 1
                if OTHER in opts:
                    other = f"свой вариант {rnd.randrange(1000)}"
                ans_rows.append((i, q.id, ",".join(opts) or None, number, None, other, 0, at))
                ch_rows.extend((i, q.id, o) for o in opts)
            if len(ans_rows) > 200_000:
                total += _flush(con, person_rows, resp_rows, ans_rows, ch_rows)
        total += _flush(con, person_rows, resp_rows, ans_rows, ch_rows)
    con.execute("ANALYZE")
    con.close()
    return total


def _flush(con: sqlite3.Connection, people: list, resps: list, answers: list, chs: list) -> int:
    con.executemany("INSERT INTO respondents (id, user_key, first_seen, source) VALUES (?,?,?,?)", people)
    con.executemany(
        "INSERT INTO responses (id, respondent_id, survey_id, survey_version, status, started_at, completed_at,"
        " updated_at, current_question, awaiting_other, version) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        resps,
    )
    con.executemany(
        "INSERT INTO answers (response_id, question_id, choices, number, text, other_text, skipped, answered_at)"
        " VALUES (?,?,?,?,?,?,?,?)",
        answers,
    )
    con.executemany("INSERT INTO answer_choices (response_id, question_id, option_id) VALUES (?,?,?)", chs)
    n = len(answers)
    for rows in (people, resps, answers, chs):
        rows.clear()
    return n
