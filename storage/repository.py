"""The only place that speaks SQL for the respondent flow.

The respondent's actions go through the batch functions at the end (claim_updates, load_positions,
add_respondents, save_positions, release_updates), run by group commit inside one
``storage.db.BatchWriter`` transaction. The few other operations (prune, mark blocked, forget, the
/my_data record) use ``Repository`` through a ``UnitOfWork``, whose caller owns the transaction:
``async with UnitOfWork(sessions) as uow: ...; await uow.commit()``; leaving the block without
``commit`` rolls everything back.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.answer_counts import Key, answer_keys, apply_delta, discount_responses
from storage.db import StaleWrite
from storage.models import (
    COMPLETED,
    IN_PROGRESS,
    Answer as AnswerRow,
    AnswerChoice,
    ProcessedUpdate,
    Respondent,
    Response,
    as_utc,
    utcnow,
)
from storage.records import decode_choices, encode_choices, order_seed
from survey.flow import Answer, Kind, Outcome, Progress
from survey.model import Survey


class Repository:
    """The unit of work's few non-batched operations: prune, mark blocked, forget, and the /my_data record."""

    def __init__(self, session: AsyncSession):
        self.session = session

    async def prune_updates(self, older_than: timedelta) -> int:
        """Forget processed update ids older than the given age (Telegram redelivers for 24 h at most)."""
        result = await self.session.execute(
            delete(ProcessedUpdate).where(ProcessedUpdate.processed_at < utcnow() - older_than)
        )
        return result.rowcount

    async def respondent(self, user_key: str) -> Respondent | None:
        """The respondent with this key, if known; its row stays locked until the transaction ends."""
        # The lock keeps a concurrent batch of another bot process (PostgreSQL) from writing this
        # respondent's response while it is being deleted; SQLite's BEGIN IMMEDIATE already serialises writers.
        return await self.session.scalar(select(Respondent).where(Respondent.user_key == user_key).with_for_update())

    async def answers(self, response_id: int) -> dict[str, Answer]:
        """All stored answers of a response, by question id."""
        rows = await self.session.execute(
            select(
                AnswerRow.question_id,
                AnswerRow.choices,
                AnswerRow.number,
                AnswerRow.text,
                AnswerRow.other_text,
                AnswerRow.skipped,
                AnswerRow.option_order,
            ).where(AnswerRow.response_id == response_id)
        )
        return {
            qid: Answer(option_ids=decode_choices(ch), number=num, text=txt, other_text=oth, skipped=bool(sk),
                        order=decode_choices(order))
            for qid, ch, num, txt, oth, sk, order in rows
        }

    async def mark_blocked(self, user_key: str, when: datetime | None = None, *, blocked: bool = True) -> None:
        """Note that a respondent blocked the bot, so nothing more is sent to them (``blocked=False``: they
        unblocked it, the mark is cleared)."""
        await self.session.execute(
            update(Respondent).where(Respondent.user_key == user_key)
            .values(blocked_at=(when or utcnow()) if blocked else None)
        )

    async def set_language(self, user_key: str, language: str) -> bool:
        """Store the language a respondent chose; False when the respondent is unknown."""
        result = await self.session.execute(
            update(Respondent).where(Respondent.user_key == user_key).values(language=language))
        return bool(result.rowcount)

    async def language(self, user_key: str) -> str | None:
        """The stored language of a respondent (None: unknown respondent or never set)."""
        return await self.session.scalar(select(Respondent.language).where(Respondent.user_key == user_key))

    async def forget(self, user_key: str) -> bool:
        """Delete a respondent with all responses and answers; False when unknown."""
        respondent = await self.respondent(user_key)
        if respondent is None:
            return False
        ids = select(Response.id).where(Response.respondent_id == respondent.id).scalar_subquery()
        await discount_responses(await self.session.connection(), ids)  # the answer counts lose them too
        await self.session.execute(delete(AnswerChoice).where(AnswerChoice.response_id.in_(ids)))
        await self.session.execute(delete(AnswerRow).where(AnswerRow.response_id.in_(ids)))
        await self.session.execute(delete(Response).where(Response.respondent_id == respondent.id))
        await self.session.execute(delete(Respondent).where(Respondent.id == respondent.id))
        return True


class UnitOfWork:
    """One transaction: ``async with UnitOfWork(sessions) as uow`` then ``await uow.commit()``."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]):
        self._sessions = sessions

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._sessions()
        self.repo = Repository(self.session)
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.session.rollback()
        finally:
            await self.session.close()

    async def commit(self) -> None:
        """Make the work durable."""
        await self.session.commit()


async def respondent_record(repo: Repository, user_key: str) -> dict[str, Any] | None:
    """Everything stored about one respondent, as plain data (for /my_data)."""
    respondent = await repo.respondent(user_key)
    if respondent is None:
        return None
    responses = (
        await repo.session.scalars(select(Response).where(Response.respondent_id == respondent.id).order_by(Response.id))
    ).all()
    return {
        "user_key": respondent.user_key,
        "first_seen": respondent.first_seen,
        "source": respondent.source,
        "blocked_at": respondent.blocked_at,
        "language": respondent.language,
        "responses": [
            {
                "survey_id": r.survey_id,
                "status": r.status,
                "started_at": r.started_at,
                "completed_at": r.completed_at,
                "answers": await repo.answers(r.id),
            }
            for r in responses
        ],
    }


# Batched access for group commit ---------------------------------------------------------------
#
# One transaction serves many respondents: rows are read with IN (...) and written with
# executemany, so the number of statements per batch does not grow with its size. These run on a
# synchronous connection (see storage.db.BatchWriter), inside the caller's transaction.

_RESPONDENTS = Respondent.__table__
_RESPONSES = Response.__table__
_ANSWERS = AnswerRow.__table__
_CHOICES = AnswerChoice.__table__
_UPDATES = ProcessedUpdate.__table__


@dataclass
class Position:
    """A respondent and their response as a batch reads it, then changed in memory as actions apply."""

    respondent_id: int
    response_id: int | None = None
    status: str | None = None
    version: int = 0
    progress: Progress | None = None
    read_version: int = 0
    survey_version: int | None = None
    definition_id: int | None = None  # set when the response starts (or starts over)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    created: bool = False  # the response row does not exist yet
    restarted: bool = False  # all stored answers of the response are to be deleted
    changed: dict[str, Answer | None] = field(default_factory=dict)
    consent_version: str | None = None  # set when the response starts: the consent text agreed to
    # Timings (the rule is in docs/researchers/quality.md): the first unanswered question put on screen and when,
    # and the first-shown time of each answer given in this batch for the first time (None: unknown). An answer
    # already stored is in ``stored`` instead: changed, it keeps the first-shown time its row has (read only then).
    shown_question: str | None = None
    shown_at: datetime | None = None
    answer_shown: dict[str, datetime | None] = field(default_factory=dict)
    stored: set[str] = field(default_factory=set)
    language: str | None = None  # respondents.language (None: never set)
    # The answers as stored when the batch read them (never changed in memory): what a rewrite or a restart takes
    # out of the answer counts (storage/answer_counts.py).
    loaded: dict[str, Answer] = field(default_factory=dict)

    @property
    def dirty(self) -> bool:
        """Whether this response must be written."""
        return self.created or self.version != self.read_version

    def advance(self, outcome: Outcome, now: datetime) -> None:
        """Apply a flow outcome in memory: new position, changed answers, bumped version, timings."""
        for qid, answer in outcome.changed.items():
            if answer is None:
                self.answer_shown.pop(qid, None)
                self.stored.discard(qid)
            elif qid not in self.answer_shown and qid not in self.stored:  # answered for the first time: shown
                # when it was put on screen
                self.answer_shown[qid] = self.shown_at if self.shown_question == qid else None
        self.progress = outcome.progress
        self.changed.update(outcome.changed)
        self.version += 1
        self._shown(now)
        if outcome.kind == Kind.FINISHED:
            self.status, self.completed_at = COMPLETED, now

    def _shown(self, now: datetime) -> None:
        """Note when an unanswered question is first put on screen (a redraw or a return to it keeps the time)."""
        assert self.progress is not None
        current = self.progress.current
        if current is not None and current not in self.progress.answers and current != self.shown_question:
            self.shown_question, self.shown_at = current, now

    def begin(self, survey: Survey, first: str | None, now: datetime, seed: int = 0) -> None:
        """Start the response (or start it over): no answers, first question, version bumped.

        ``seed`` is stored with a new response; a response started over keeps the seed it has.
        """
        if self.response_id is None and not self.created:
            self.created = True
        else:
            self.restarted = True
            seed = self.progress.seed if self.progress is not None else seed
        self.progress = Progress(current=first, seed=seed)
        self.changed = {}
        self.answer_shown = {}
        self.stored = set()
        self.shown_question = self.shown_at = None
        self.status, self.started_at, self.completed_at = IN_PROGRESS, now, None
        self.survey_version = survey.version
        self.version += 1
        self._shown(now)


def _insert_for(conn: Connection):
    return pg_insert if conn.dialect.name == "postgresql" else sqlite_insert


def claim_updates(conn: Connection, update_ids: list[int]) -> set[int]:
    """Record update ids (distinct) at once; returns those that were new (the others are redeliveries).

    One cached INSERT ... ON CONFLICT DO NOTHING RETURNING, executed for many rows (SQLAlchemy
    sends them as multi-row VALUES pages): conflicting ids return nothing.
    """
    if not update_ids:
        return set()
    now = utcnow()
    stmt = (
        _insert_for(conn)(_UPDATES)
        .on_conflict_do_nothing(index_elements=["update_id"])
        .returning(_UPDATES.c.update_id)
    )
    return set(conn.execute(stmt, [{"update_id": i, "processed_at": now} for i in update_ids]).scalars())


_NOTE_VERSION = (update(_UPDATES).where(_UPDATES.c.update_id == bindparam("b_update"))
                 .values(version_after=bindparam("b_version")))


def note_versions(conn: Connection, left: dict[int, int]) -> None:
    """Remember the position version each update applied in this transaction left behind."""
    if left:
        conn.execute(_NOTE_VERSION, [{"b_update": i, "b_version": v} for i, v in left.items()])


def note_replied(conn: Connection, update_ids: list[int]) -> None:
    """Note that the handling of these (processed) updates has ended: their replies went out."""
    if update_ids:
        conn.execute(update(_UPDATES).where(_UPDATES.c.update_id.in_(update_ids)).values(replied=True))


def versions_left(conn: Connection, update_ids: list[int]) -> dict[int, int | None]:
    """The position versions these (already processed) updates left behind; None where not known, or where
    their replies are known to have gone out (nothing to answer again)."""
    if not update_ids:
        return {}
    rows = conn.execute(select(_UPDATES.c.update_id, _UPDATES.c.version_after, _UPDATES.c.replied)
                        .where(_UPDATES.c.update_id.in_(update_ids)))
    return {update_id: None if replied else version for update_id, version, replied in rows}


def release_updates(conn: Connection, update_ids: list[int]) -> None:
    """Forget claims made in this transaction for updates that were not applied after all."""
    if update_ids:
        conn.execute(delete(_UPDATES).where(_UPDATES.c.update_id.in_(update_ids)))


def load_positions(conn: Connection, survey_id: str, user_keys: list[str]) -> dict[str, Position]:
    """Respondents (by key) with their response to a survey and its answers: two queries for any number."""
    if not user_keys:
        return {}
    r, s = _RESPONDENTS, _RESPONSES
    rows = conn.execute(
        select(r.c.user_key, r.c.id, r.c.language, s.c.id, s.c.status, s.c.version, s.c.current_question, s.c.draft,
               s.c.draft_other, s.c.awaiting_other, s.c.shown_question, s.c.shown_at, s.c.consent_version,
               s.c.order_seed)
        .select_from(r.outerjoin(s, and_(s.c.respondent_id == r.c.id, s.c.survey_id == survey_id)))
        .where(r.c.user_key.in_(user_keys))
    )
    positions: dict[str, Position] = {}
    by_response: dict[int, Position] = {}
    for key, rid, language, sid, status, version, current, draft, draft_other, awaiting, shown_q, shown_at, consent, seed \
            in rows:
        pos = Position(rid, language=language)
        if sid is not None:
            pos = Position(rid, sid, status, version, read_version=version, progress=Progress(
                current=current, answers={}, draft=decode_choices(draft), draft_other=draft_other,
                awaiting_other=bool(awaiting), seed=order_seed(seed, sid)),
                shown_question=shown_q, shown_at=as_utc(shown_at), consent_version=consent, language=language)
            by_response[sid] = pos
        positions[key] = pos
    if by_response:
        a = _ANSWERS
        rows = conn.execute(
            select(a.c.response_id, a.c.question_id, a.c.choices, a.c.number, a.c.text, a.c.other_text, a.c.skipped,
                   a.c.option_order)
            .where(a.c.response_id.in_(list(by_response)))
        )
        for sid, qid, ch, num, txt, oth, sk, order in rows:
            pos = by_response[sid]
            pos.progress.answers[qid] = Answer(
                option_ids=decode_choices(ch), number=num, text=txt, other_text=oth, skipped=bool(sk),
                order=decode_choices(order),
            )
            pos.stored.add(qid)
        for pos in by_response.values():
            pos.loaded = dict(pos.progress.answers)
    return positions


def _kept_shown(conn: Connection, dirty: list[Position]) -> dict[tuple[int, str], datetime | None]:
    """The first-shown time of each stored answer about to be rewritten (one read; usually none: an answer changes
    only after «Назад»)."""
    wanted = {(p.response_id, qid) for p in dirty if not p.restarted for qid in p.changed if qid in p.stored}
    if not wanted:
        return {}
    a = _ANSWERS
    rows = conn.execute(select(a.c.response_id, a.c.question_id, a.c.shown_at).where(
        a.c.response_id.in_({sid for sid, _ in wanted}), a.c.question_id.in_({qid for _, qid in wanted})))
    return {(sid, qid): shown for sid, qid, shown in rows if (sid, qid) in wanted}


def add_respondents(conn: Connection, new: dict[str, str | None],
                    languages: dict[str, str | None] | None = None) -> dict[str, Position]:
    """Create respondents (user key -> deep-link source; ``languages``: user key -> their language) and return
    their empty positions."""
    if not new:
        return {}
    now = utcnow()
    r = _RESPONDENTS
    languages = languages or {}
    conn.execute(insert(r), [{"user_key": k, "source": src, "first_seen": now, "language": languages.get(k)}
                             for k, src in new.items()])
    rows = conn.execute(select(r.c.user_key, r.c.id, r.c.language).where(r.c.user_key.in_(list(new))))
    return {key: Position(rid, language=language) for key, rid, language in rows}


_POSITION_VALUES = {
    "version": bindparam("b_version"),
    "status": bindparam("b_status"),
    "completed_at": bindparam("b_completed"),
    "current_question": bindparam("b_current"),
    "draft": bindparam("b_draft"),
    "draft_other": bindparam("b_other"),
    "awaiting_other": bindparam("b_awaiting"),
    "updated_at": bindparam("b_now"),
    "shown_question": bindparam("b_shown_q"),
    "shown_at": bindparam("b_shown_at"),
}
_VERSION_CHECKED = update(_RESPONSES).where(
    _RESPONSES.c.id == bindparam("b_id"), _RESPONSES.c.version == bindparam("b_read")
)
# A restart also sets the start time and the questionnaire version; an ordinary change keeps them.
_UPDATE_POSITION = _VERSION_CHECKED.values(
    **_POSITION_VALUES, started_at=bindparam("b_started"), survey_version=bindparam("b_survey_version"),
    definition_id=bindparam("b_definition"), consent_version=bindparam("b_consent"),
)
_UPDATE_POSITION_KEEP_START = _VERSION_CHECKED.values(**_POSITION_VALUES)
_DELETE_ANSWER = delete(_ANSWERS).where(
    _ANSWERS.c.response_id == bindparam("b_id"), _ANSWERS.c.question_id == bindparam("b_qid")
)
_DELETE_CHOICES = delete(_CHOICES).where(
    _CHOICES.c.response_id == bindparam("b_id"), _CHOICES.c.question_id == bindparam("b_qid")
)


def _position_row(p: Position, now: datetime) -> dict[str, Any]:
    return {
        "b_id": p.response_id, "b_read": p.read_version, "b_version": p.version, "b_status": p.status,
        "b_completed": p.completed_at, "b_current": p.progress.current, "b_draft": encode_choices(p.progress.draft),
        "b_other": p.progress.draft_other, "b_awaiting": p.progress.awaiting_other, "b_now": now,
        "b_started": p.started_at, "b_survey_version": p.survey_version, "b_definition": p.definition_id,
        "b_shown_q": p.shown_question, "b_shown_at": p.shown_at, "b_consent": p.consent_version,
    }


def _update_checked(conn: Connection, stmt: Any, rows: list[dict[str, Any]]) -> None:
    """Run a version-checked UPDATE for many rows; StaleWrite unless every row matched."""
    if not rows:
        return
    if conn.dialect.supports_sane_multi_rowcount:
        matched = conn.execute(stmt, rows).rowcount
        if matched != len(rows):
            raise StaleWrite(f"{len(rows) - matched} responses changed concurrently")
        return
    for row in rows:
        if conn.execute(stmt, row).rowcount != 1:
            raise StaleWrite(f"response {row['b_id']} changed concurrently")


def _count_answers(conn: Connection, survey_id: str, dirty: list[Position]) -> None:
    """Adjust the survey's answer counts to the answers this batch deletes and stores (storage/answer_counts.py).

    A restart deletes every stored answer of the response; otherwise each changed question's stored answer (if
    any) is replaced by its new one (None: deleted). ``loaded`` is what the rows hold now.
    """
    delta: Counter[Key] = Counter()
    for p in dirty:
        gone = p.loaded if p.restarted else {qid: p.loaded[qid] for qid in p.changed if qid in p.loaded}
        for qid, old in gone.items():
            delta.subtract(answer_keys(qid, old))
        for qid, new in p.changed.items():
            if new is not None:
                delta.update(answer_keys(qid, new))
    apply_delta(conn, survey_id, delta)


def save_positions(conn: Connection, survey: Survey, positions: list[Position], now: datetime | None = None) -> None:
    """Write every changed position: new responses, version-checked updates, then the changed answers.

    The UPDATE ... WHERE version = <read version> refuses a response another process changed since
    we read it (StaleWrite); on PostgreSQL it also locks the row before its answers are touched.
    """
    dirty = [p for p in positions if p.dirty]
    if not dirty:
        return
    now = now or utcnow()
    created = [p for p in dirty if p.created]
    if created:
        s = _RESPONSES
        conn.execute(insert(s), [
            {"respondent_id": p.respondent_id, "survey_id": survey.id, "survey_version": p.survey_version,
             "status": p.status, "started_at": p.started_at, "completed_at": p.completed_at, "updated_at": now,
             "current_question": p.progress.current, "draft": encode_choices(p.progress.draft),
             "draft_other": p.progress.draft_other, "awaiting_other": p.progress.awaiting_other, "version": p.version,
             "definition_id": p.definition_id, "consent_version": p.consent_version,
             "shown_question": p.shown_question, "shown_at": p.shown_at, "order_seed": p.progress.seed}
            for p in created
        ])
        ids = dict(conn.execute(select(s.c.respondent_id, s.c.id).where(
            s.c.survey_id == survey.id, s.c.respondent_id.in_([p.respondent_id for p in created]))).all())
        for p in created:
            p.response_id = ids[p.respondent_id]
    existing = [p for p in dirty if not p.created]
    _update_checked(conn, _UPDATE_POSITION, [_position_row(p, now) for p in existing if p.restarted])
    _update_checked(conn, _UPDATE_POSITION_KEEP_START, [_position_row(p, now) for p in existing if not p.restarted])
    _count_answers(conn, survey.id, dirty)
    restarted = [{"b_id": p.response_id} for p in existing if p.restarted]
    if restarted:
        conn.execute(delete(_CHOICES).where(_CHOICES.c.response_id == bindparam("b_id")), restarted)
        conn.execute(delete(_ANSWERS).where(_ANSWERS.c.response_id == bindparam("b_id")), restarted)
    keys = [{"b_id": p.response_id, "b_qid": qid} for p in dirty for qid in p.changed]
    if not keys:
        return
    kept = _kept_shown(conn, dirty)
    conn.execute(_DELETE_ANSWER, keys)
    conn.execute(_DELETE_CHOICES, keys)
    answers, choices = [], []
    for p in dirty:
        for qid, ans in p.changed.items():
            if ans is None:
                continue
            answers.append({
                "response_id": p.response_id, "question_id": qid, "choices": encode_choices(ans.option_ids),
                "number": ans.number, "text": ans.text, "other_text": ans.other_text, "skipped": ans.skipped,
                "option_order": encode_choices(ans.order), "answered_at": now,
                "shown_at": kept.get((p.response_id, qid)) if qid in p.stored else p.answer_shown.get(qid),
            })
            choices += [{"response_id": p.response_id, "question_id": qid, "option_id": o} for o in ans.option_ids]
    if answers:
        conn.execute(insert(_ANSWERS), answers)
    if choices:
        conn.execute(insert(_CHOICES), choices)
