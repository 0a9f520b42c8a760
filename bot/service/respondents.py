"""The respondent write path, top to bottom: every respondent action committed before it returns.

How one tap or message becomes a durable answer (read this module top-down):

    bot/respondent/handlers.py           on_button / on_text parse the update into a flow.Action and call
    SurveyService.act         (or .show / .status) which wraps it in a Job and
    GroupCommit.submit        queues it (storage/groupcommit.py); callers that arrive together form a batch
    SurveyService._commit     runs the batch as ONE transaction (see _transaction, the single place a
                              transaction is opened; storage.db.BatchWriter runs it), and if that fails
                              runs each job alone, retrying a lost race with another process
    SurveyService._apply      inside the transaction: claim the update ids, load every position at once,
                              run each job in arrival order (_act_on / _show_on / _status_of, which call
                              the pure survey.flow.apply and Position.begin/advance), write the changes
    Pending.resolve           after COMMIT each caller gets its own Reply (or its own exception)

With ``metrics`` (bot/background/metrics.py), ``_transaction`` times each transaction
(``surveybot_db_transaction_seconds``) and, after COMMIT, counts the answers it stored
(``surveybot_answers_stored_total``).

Names, each for one thing: ``flow.Progress`` is where a respondent is in the questionnaire (pure);
``flow.Outcome`` (with its ``flow.Kind``) is what one action did to it; ``storage.repository.Position``
is a response row as a batch reads and changes it; ``Reply`` is what the service tells the handler:
what the request got (``Result``) and where the respondent stands (``Standing``); ``Job`` / ``JobKind`` / ``JobResult`` are one queued request and its result.

Every guarantee of one-transaction-per-action holds per request: the update id is claimed in the same
transaction (a redelivery changes nothing), the keyboard version is checked against the position as the
earlier requests of the batch left it, and a request that fails is retried or failed alone without
costing the others their answers. The position comes from the database on every call, which is what
lets a killed bot resume exactly where people were.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from enum import StrEnum
from typing import TYPE_CHECKING, assert_never

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import field as field_store
from storage.consent import count_decline
from storage.db import BatchWriter, is_conflict, sessionmaker
from storage.groupcommit import GroupCommit, Pending
from storage.models import COMPLETED, utcnow
from storage.repository import (
    Position,
    UnitOfWork,
    add_respondents,
    claim_updates,
    load_positions,
    note_replied,
    note_versions,
    release_updates,
    respondent_record,
    save_positions,
    versions_left,
)
from survey import flow
from survey.field import Availability, FieldState, Phase, Why, availability
from survey.flow import Action, Outcome, Progress
from survey.model import Survey
from survey.randomize import SEED_BITS

if TYPE_CHECKING:
    from bot.background.metrics import Metrics

CONFLICT_RETRIES = 3
STORED = frozenset({flow.Kind.ADVANCED, flow.Kind.FINISHED})  # outcomes that stored an answer


class Standing(StrEnum):
    """What the respondent *is* with this survey when the request ran."""

    NEW = "new"  # never started this survey
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CLOSED = "closed"  # the survey does not take them now (see Reply.availability, Reply.in_progress)


class Result(StrEnum):
    """What the request *got*."""

    APPLIED = "applied"  # it went through: the status read, the question shown, the action applied (see outcome)
    REFUSED = "refused"  # not for a respondent who stands where they stand (new, completed, closed)
    RELOCATED = "relocated"  # meant for a question the edited questionnaire no longer has; nothing applied
    STALE = "stale"  # the button belongs to an older message
    DUPLICATE = "duplicate"  # this Telegram update was already processed (see Reply.unchanged)


@dataclass
class Reply:
    """What the bot needs to answer a respondent: what the request got, where they stand, the keyboard version."""

    result: Result
    standing: Standing | None = None  # None only for STALE
    progress: Progress | None = None
    version: int = 0
    outcome: Outcome | None = None  # act() that was APPLIED: what the flow did (it may have REJECTED the input)
    answered: int = 0
    # The survey's open/closed state when the request ran (survey/field.py); None only for DUPLICATE/STALE.
    availability: Availability | None = None
    in_progress: bool = False  # CLOSED: the respondent has a response under way (their answers are kept)
    # DUPLICATE: the respondent's position is still what the first delivery left behind (they have done nothing
    # since), so showing where they stand (standing, progress, version: as now) shows nothing out of date.
    unchanged: bool = False


class JobKind(StrEnum):
    """The three requests a handler can make."""

    STATUS = "status"  # where does the user stand (creates the respondent on first contact)
    SHOW = "show"  # draw the current question again (starting or restarting the response when asked)
    ACT = "act"  # apply one flow.Action


@dataclass(frozen=True)
class Job:
    """One respondent request waiting for its batch."""

    kind: JobKind
    key: str
    update_id: int | None = None
    action: Action | None = None
    expected_version: int | None = None
    source: str | None = None
    restart: bool = False
    consented: bool = False  # SHOW: the respondent has just agreed to the questionnaire's consent text


@dataclass
class JobResult:
    """A job's reply (or error), and whether its update claim must be given back (nothing was applied)."""

    reply: Reply | None = None
    error: Exception | None = None
    release: bool = False


class _Gate:
    """The survey's field state for one batch: who may begin or go on, and the quota, counted exactly."""

    def __init__(self, conn: Connection, service: SurveyService, now: datetime):
        self.conn, self.meta, self.survey_id, self.now = conn, service.survey.survey, service.survey.id, now
        self.grace, self.zone = service.grace, service.zone
        self.availability = availability(self.meta, field_store.read(conn, self.survey_id), now, self.grace, self.zone)
        self.completed: int | None = None  # completed responses, counted under the lock once needed

    def closed(self, in_progress: bool = True) -> Reply:
        """The reply to an action the survey does not take now (``in_progress``: the respondent has answers)."""
        return Reply(Result.REFUSED, Standing.CLOSED, availability=self.availability, in_progress=in_progress)

    def may_complete(self) -> bool:
        """Whether one more response may complete; the one that fills the quota closes the survey."""
        quota = self.meta.quota
        if quota is None or not self.availability.quota_applies:
            return True
        if self.completed is None:
            # Locked, then counted: a second worker finishing at the same moment waits here and then
            # counts this one too, so the quota is never exceeded (SQLite: BEGIN IMMEDIATE already
            # serialises the writers).
            state = field_store.read(self.conn, self.survey_id, lock=True)
            self.availability = availability(self.meta, state, self.now, self.grace, self.zone)
            if not self.availability.quota_applies:
                return True
            self.completed = field_store.completed_count(self.conn, self.survey_id)
        if self.completed >= quota:
            self._quota_reached()
            return False
        self.completed += 1
        if self.completed == quota:
            self._quota_reached()
        return True

    def _quota_reached(self) -> None:
        if self.availability.why != Why.QUOTA:
            field_store.mark_quota_reached(self.conn, self.survey_id, self.now)
        self.availability = availability(self.meta, FieldState(quota_reached_at=self.now), self.now, self.grace,
                                         self.zone)


def _answered(progress: Progress) -> int:
    return sum(1 for a in progress.answers.values() if not a.skipped)


def user_key(user_id: int, anonymity_key: str | None) -> str:
    """How a Telegram user is stored: the id itself, or a keyed hash of it when anonymous."""
    if anonymity_key is None:
        return str(user_id)
    return hmac.new(anonymity_key.encode(), str(user_id).encode(), hashlib.sha256).hexdigest()


class SurveyService:
    """Start, answer, go back, resume, restart and forget, each committed before it returns."""

    def __init__(self, survey: Survey, engine: AsyncEngine, anonymity_key: str | None = None,
                 *, max_batch: int = 256, linger: float = 0.0, definition_id: int | None = None,
                 grace: timedelta = timedelta(hours=24), zone: tzinfo = UTC, shares: SurveyService | None = None,
                 metrics: Metrics | None = None, clock: Callable[[], datetime] = utcnow,
                 seeds: Callable[[], int] | None = None):
        """``definition_id``: survey_definitions.id of this questionnaire, stored with each response it starts;
        ``grace``/``zone``: CLOSE_GRACE and the zone of dates without one; ``shares``: another service of this
        process whose write lock and batch writer this one uses (the test copy shares the main service's);
        ``metrics``: where transactions and stored answers are counted (None: not counted); ``clock``: the time
        stamped on what is stored (tests give a fixed one); ``seeds``: where a new response's seed of its random
        orders comes from (default: a random number, see survey.randomize)."""
        self.survey = survey
        self.clock = clock
        self.seeds = seeds or (lambda: secrets.randbits(SEED_BITS))
        self.metrics = metrics
        self.engine = engine
        self.definition_id = definition_id
        self.grace, self.zone = grace, zone
        self.sessions = sessionmaker(engine)  # the few non-batched operations (forget, /my_data, ...)
        self.anonymity_key = anonymity_key
        # Every write transaction of this process takes this lock first. Waiting here is a cheap
        # in-memory queue, whereas two transactions of ours contending for SQLite's write lock would
        # busy-wait (and the batch writer, which never waits for SQLite's lock on the event loop's
        # thread, would fall back to a worker thread). Other processes are handled by the database.
        self.write_lock = shares.write_lock if shares is not None else asyncio.Lock()
        self.writer = shares.writer if shares is not None else BatchWriter(engine)
        self._owns_writer = shares is None
        self.batches: GroupCommit[Job] = GroupCommit(self._commit, max_batch=max_batch, linger=linger)
        self.replied: set[int] = set()  # updates whose handling ended since the last transaction (see answered)
        self.notes: GroupCommit[int] = GroupCommit(self._note_replied, max_batch=max_batch)

    def use_clock(self, clock: Callable[[], datetime]) -> None:
        """Stamp what is stored with this clock from now on (tests script the time respondents take)."""
        self.clock = clock

    def close(self) -> None:
        """Close the batch writer's own connections (call when the engine is disposed)."""
        if self._owns_writer:
            self.writer.dispose()

    def key(self, user_id: int) -> str:
        """The stored key of a Telegram user."""
        return user_key(user_id, self.anonymity_key)

    async def _submit(self, job: Job) -> Reply:
        result = await self.batches.submit(job)
        assert isinstance(result, Reply)
        return result

    async def status(self, user_id: int, source: str | None = None, update_id: int | None = None) -> Reply:
        """Where a user stands (creating the respondent on first contact, with its deep-link source)."""
        return await self._submit(Job(JobKind.STATUS, self.key(user_id), update_id, source=source))

    async def show(self, user_id: int, expected_version: int | None = None, *, restart: bool = False,
                   update_id: int | None = None, consented: bool = False, source: str | None = None) -> Reply:
        """Put the current question on screen again (starting or restarting the response when asked).

        The version is bumped so that keyboards sent earlier stop working: only the newest one counts. With a
        consent step, a response starts only with ``consented`` (the agree button; ``source`` is its deep link).
        """
        return await self._submit(Job(JobKind.SHOW, self.key(user_id), update_id, expected_version=expected_version,
                                      restart=restart, consented=consented, source=source))

    @property
    def consent_version(self) -> str | None:
        """The version of the questionnaire's consent text; None when it asks for no consent."""
        consent = self.survey.survey.consent
        return None if consent is None else consent.version

    async def decline(self, update_id: int | None = None) -> bool:
        """Count one decline of the consent step: a bare counter, nothing about who (False: a redelivered update)."""
        version = self.consent_version
        assert version is not None, "decline() needs a questionnaire with a consent block"

        def work(conn: Connection) -> bool:
            if update_id is not None and not claim_updates(conn, [update_id]):
                return False
            count_decline(conn, self.survey.id, version)
            return True

        async with self.write_lock:
            return await self.writer.run(work)

    async def act(self, user_id: int, action: Action, expected_version: int | None = None,
                  update_id: int | None = None) -> Reply:
        """Apply one respondent action; STALE when the button's version is not the current one."""
        return await self._submit(Job(JobKind.ACT, self.key(user_id), update_id, action=action,
                                      expected_version=expected_version))

    async def _commit(self, batch: list[Pending[Job]]) -> None:
        """Run a batch as one transaction; if it fails, run each job alone (one bad job costs the others nothing)."""
        jobs = [p.item for p in batch]
        try:
            results = await self._transaction(jobs)
        except Exception as exc:
            if len(batch) == 1:
                await self._commit_alone(batch[0], first_error=exc)
            else:
                for pending in batch:
                    await self._commit_alone(pending)
            return
        for pending, result in zip(batch, results, strict=True):
            pending.fail(result.error) if result.error is not None else pending.resolve(result.reply)

    async def _commit_alone(self, pending: Pending[Job], first_error: Exception | None = None) -> None:
        """One job in its own transaction; a race lost to another process is retried on the fresh rows."""
        attempt = 0
        error = first_error
        while True:
            if error is None:
                try:
                    (result,) = await self._transaction([pending.item])
                except Exception as exc:
                    error = exc
                else:
                    pending.fail(result.error) if result.error is not None else pending.resolve(result.reply)
                    return
            # Another process won a race for the same rows (PostgreSQL, several workers): by now it
            # has committed, so a fresh transaction reads its result and goes on from there.
            if attempt >= CONFLICT_RETRIES or not is_conflict(error):
                pending.fail(error)
                return
            attempt, error = attempt + 1, None

    async def _transaction(self, jobs: list[Job]) -> list[JobResult]:
        """THE place where respondent writes meet the database: one transaction for these jobs, committed."""
        async with self.write_lock:  # see __init__: our own writers queue here, not on SQLite's lock
            started = time.perf_counter()
            results = await self.writer.run(lambda conn: self._apply(conn, jobs))
        if self.metrics is not None:  # committed: what it stored is durable now
            self.metrics.transaction.observe(time.perf_counter() - started)
            self.metrics.answers.inc(sum(1 for r in results if r.reply is not None and r.reply.outcome is not None
                                         and r.reply.result == Result.APPLIED and r.reply.outcome.kind in STORED))
        return results

    def answered(self, update_id: int) -> None:
        """The handling of this update has ended (its reply went out): noted with the next transaction, so that a
        redelivery of it is not answered again (the update processor calls this, bot/incoming/processor.py)."""
        self.replied.add(update_id)

    async def answered_now(self, update_id: int) -> None:
        """Like ``answered``, but committed before it returns (the updates that arrive together share one
        transaction): a webhook worker calls it before answering Telegram 200, so a redelivery that comes after
        that answer was lost always finds the reply noted, and stays silent."""
        self.replied.discard(update_id)
        await self.notes.submit(update_id)

    async def _note_replied(self, batch: list[Pending[int]]) -> None:
        ids = sorted({p.item for p in batch} | self.replied)
        self.replied = set()
        try:
            async with self.write_lock:
                await self.writer.run(lambda conn: note_replied(conn, ids))
        except Exception as exc:
            for pending in batch:
                pending.fail(exc)
            return
        for pending in batch:
            pending.resolve(None)

    def _apply(self, conn: Connection, jobs: list[Job]) -> list[JobResult]:
        """Claim the updates, read every position at once, run the requests in order, write the changes."""
        replied, self.replied = self.replied, set()
        note_replied(conn, sorted(replied))  # a lost note only means a redelivery is answered once more
        claimed = claim_updates(conn, list(dict.fromkeys(j.update_id for j in jobs if j.update_id is not None)))
        positions = load_positions(conn, self.survey.id, list(dict.fromkeys(j.key for j in jobs)))
        # status and show create the respondent on first contact (with the source of the first request).
        new: dict[str, str | None] = {}
        # With a consent step, nobody is stored before agreeing: only the agree button (a consented SHOW) creates.
        consent = self.consent_version is not None
        for j in jobs:
            if j.kind != JobKind.ACT and j.key not in positions and (j.update_id is None or j.update_id in claimed) \
                    and (not consent or j.consented):
                new.setdefault(j.key, j.source)
        positions |= add_respondents(conn, new)
        now = self.clock()
        relocated = self._relocate(positions, now)
        gate = _Gate(conn, self, now)
        results: list[JobResult] = []
        left: dict[int, int] = {}  # update id -> the position version it left behind
        earlier = versions_left(conn, [j.update_id for j in jobs if j.update_id is not None
                                       and j.update_id not in claimed])  # redeliveries only: usually none
        for job in jobs:
            if job.update_id is not None and (job.update_id not in claimed or job.update_id in left):
                version = left.get(job.update_id, earlier.get(job.update_id))
                results.append(JobResult(self._duplicate(positions.get(job.key), version, gate)))
                continue
            result = self._one(job, positions, relocated, now, gate)
            results.append(result)
            if job.update_id is not None:
                pos = positions.get(job.key)
                left[job.update_id] = -1 if pos is None or result.release else pos.version
        save_positions(conn, self.survey, list(positions.values()), now)
        note_versions(conn, {i: v for i, v in left.items() if v >= 0})
        release_updates(conn, [j.update_id for j, d in zip(jobs, results) if d.release and j.update_id is not None])
        return results

    def _one(self, job: Job, positions: dict[str, Position], relocated: set[str], now: datetime,
             gate: _Gate) -> JobResult:
        """Run one request of the batch (not a duplicate)."""
        if job.kind == JobKind.ACT and job.key in relocated:
            # The tap or text was meant for a question the edited questionnaire no longer has: it is not
            # applied to another question; the respondent is shown where they continue.
            relocated.discard(job.key)
            pos = positions[job.key]
            return JobResult(Reply(Result.RELOCATED, Standing.IN_PROGRESS, pos.progress, pos.version))
        try:
            return self._run_job(positions.get(job.key), job, now, gate)
        except Exception as exc:
            return JobResult(error=exc, release=True)

    @staticmethod
    def _duplicate(pos: Position | None, version_after: int | None, gate: _Gate) -> Reply:
        """A redelivered update: nothing applied again; where the respondent stands, and whether they have done
        anything since the first delivery (``unchanged``)."""
        if pos is None or (pos.response_id is None and not pos.created):
            return Reply(Result.DUPLICATE, Standing.NEW, availability=gate.availability,
                         unchanged=version_after is not None)
        standing = Standing.COMPLETED if pos.status == COMPLETED else Standing.IN_PROGRESS
        return Reply(Result.DUPLICATE, standing, pos.progress, pos.version, answered=_answered(pos.progress),
                     availability=gate.availability, unchanged=version_after == pos.version)

    def _relocate(self, positions: dict[str, Position], now: datetime) -> set[str]:
        """Fit in-progress positions to the questionnaire as it is now; the keys whose question moved.

        A moved position gets a new version (saved with this batch), so keyboards drawn for the removed
        question stop working instead of answering a different one.
        """
        moved: set[str] = set()
        for key, pos in positions.items():
            if pos.progress is None or pos.status == COMPLETED:
                continue
            fixed = flow.relocate(self.survey, pos.progress)
            if fixed.current != pos.progress.current:
                pos.advance(Outcome(flow.Kind.REDRAW, fixed), now)
                moved.add(key)
            else:
                pos.progress = fixed
        return moved

    def _run_job(self, pos: Position | None, job: Job, now: datetime, gate: _Gate) -> JobResult:
        match job.kind:
            case JobKind.ACT:
                return self._act_on(pos, job, now, gate)
            case JobKind.STATUS:
                if pos is None:  # not stored: the questionnaire asks for consent first
                    return JobResult(Reply(Result.APPLIED, Standing.NEW, availability=gate.availability))
                return self._status_of(pos, job, now, gate)
            case JobKind.SHOW:
                if pos is None:  # not stored and no consent given: the consent step comes first
                    return JobResult(Reply(Result.REFUSED, Standing.NEW, availability=gate.availability), release=True)
                return self._show_on(pos, job, now, gate)
            case _:
                assert_never(job.kind)

    def _status_of(self, pos: Position, job: Job, now: datetime, gate: _Gate) -> JobResult:
        if pos.response_id is None and not pos.created:
            return JobResult(Reply(Result.APPLIED, Standing.NEW, availability=gate.availability))
        standing = Standing.COMPLETED if pos.status == COMPLETED else Standing.IN_PROGRESS
        return JobResult(Reply(Result.APPLIED, standing, pos.progress, pos.version, answered=_answered(pos.progress),
                               availability=gate.availability))

    def _show_on(self, pos: Position, job: Job, now: datetime, gate: _Gate) -> JobResult:
        exists = pos.response_id is not None or pos.created
        if job.expected_version is not None and job.expected_version != (pos.version if exists else 0):
            return JobResult(Reply(Result.STALE), release=True)
        if (not exists or job.restart) and gate.availability.phase != Phase.OPEN:
            return JobResult(gate.closed(in_progress=exists), release=True)
        if exists and pos.status != COMPLETED and not gate.availability.may_continue(now):
            return JobResult(gate.closed(), release=True)
        if not exists and self.consent_version is not None and not job.consented:
            return JobResult(Reply(Result.REFUSED, Standing.NEW, availability=gate.availability), release=True)
        if not exists or job.restart:
            # A new response draws its seed; one started over keeps it (begin), so its orders stay the same.
            seed = pos.progress.seed if pos.progress is not None and exists else self.seeds()
            pos.begin(self.survey, flow.start(self.survey, seed).current, now, seed)
            pos.definition_id = self.definition_id
            if not exists or job.consented:  # a restart keeps the consent given; a new response records it
                pos.consent_version = self.consent_version
        elif pos.status == COMPLETED:
            return JobResult(Reply(Result.REFUSED, Standing.COMPLETED), release=True)
        else:
            pos.advance(Outcome(flow.Kind.REDRAW, pos.progress), now)
        return JobResult(Reply(Result.APPLIED, Standing.IN_PROGRESS, pos.progress, pos.version))

    def _act_on(self, pos: Position | None, job: Job, now: datetime, gate: _Gate) -> JobResult:
        """Check version and status, run the pure flow, advance the position in memory."""
        if pos is None or (pos.response_id is None and not pos.created):
            return JobResult(Reply(Result.REFUSED, Standing.NEW))
        if job.expected_version is not None and job.expected_version != pos.version:
            return JobResult(Reply(Result.STALE))
        if pos.status == COMPLETED:
            return JobResult(Reply(Result.REFUSED, Standing.COMPLETED))
        if not gate.availability.may_continue(now):
            return JobResult(gate.closed())
        outcome = flow.apply(self.survey, pos.progress, job.action)
        if outcome.kind == flow.Kind.FINISHED and not gate.may_complete():
            return JobResult(gate.closed())
        if outcome.kind != flow.Kind.REJECTED:
            pos.advance(outcome, now)
        standing = Standing.COMPLETED if outcome.kind == flow.Kind.FINISHED else Standing.IN_PROGRESS
        return JobResult(Reply(Result.APPLIED, standing, outcome.progress, pos.version, outcome=outcome,
                           answered=_answered(outcome.progress)))

    async def mark_blocked(self, user_id: int) -> None:
        """Remember that a user blocked the bot."""
        async with self.write_lock, UnitOfWork(self.sessions) as uow:  # a write: queues with the batches
            await uow.repo.mark_blocked(self.key(user_id))
            await uow.commit()

    async def mark_unblocked(self, user_id: int) -> None:
        """Forget that a user blocked the bot (they unblocked it): reminders follow them again."""
        async with self.write_lock, UnitOfWork(self.sessions) as uow:
            await uow.repo.mark_blocked(self.key(user_id), blocked=False)
            await uow.commit()

    async def forget(self, user_id: int) -> bool:
        """Delete everything stored about a user; False when nothing was stored."""
        async with self.write_lock:  # a write: queues with the batches; also covers the WAL truncation
            async with UnitOfWork(self.sessions) as uow:
                found = await uow.repo.forget(self.key(user_id))
                await uow.commit()
            # The deleted rows are still in SQLite's write-ahead log until a checkpoint overwrites it.
            self.writer.truncate_wal()
        return found

    async def record(self, user_id: int) -> dict | None:
        """Everything stored about a user (None when nothing is)."""
        # Read as a writer would: the respondent's row is locked while its answers are read (FOR UPDATE on
        # PostgreSQL; on SQLite the session's BEGIN IMMEDIATE takes the write lock), so the record never
        # shows half of a concurrent batch; taking our lock first keeps it off SQLite's busy wait.
        async with self.write_lock, UnitOfWork(self.sessions) as uow:
            return await respondent_record(uow.repo, self.key(user_id))
