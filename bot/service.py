"""The respondent service: every respondent action committed before it returns, no Telegram in here.

Handlers call these methods; each commits before returning, so the bot only shows the next
question once the answer is durable. The respondent's position comes from the database on
every call, which is what lets a killed bot resume exactly where people were.

``status``, ``show`` and ``act`` go through group commit (storage/groupcommit.py): the requests
of many respondents that arrive together are applied in ONE transaction (rows read with IN (...),
written with executemany), in arrival order, and each caller gets its result only after that
commit. Every guarantee of one-transaction-per-action holds per request: the update id is claimed
in the same transaction (a redelivery changes nothing), the keyboard version is checked against
the position as the earlier requests of the batch left it, and a request that fails is retried or
failed alone without costing the others their answers. One asyncio lock serialises this process's
write transactions, so they queue in memory instead of spinning on SQLite's busy timeout.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from enum import StrEnum

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import fieldstate
from storage.db import Writer, is_conflict
from storage.groupcommit import GroupCommit, Pending
from storage.models import COMPLETED, utcnow
from storage.repository import (
    Position,
    UnitOfWork,
    add_respondents,
    claim_updates,
    load_positions,
    release_updates,
    respondent_record,
    save_positions,
)
from survey import flow
from survey.flow import Action, Outcome, Progress
from survey.field import FieldState, Phase, Why, availability
from survey.model import Survey


CONFLICT_RETRIES = 3


class Status(StrEnum):
    """How a request to the service ended."""

    NEW = "new"  # never started this survey
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    APPLIED = "applied"  # the action went through (see outcome.kind)
    STALE = "stale"  # the button belongs to an older message
    CLOSED = "closed"  # the survey does not take this action now (see extra["availability"])
    DUPLICATE = "duplicate"  # this Telegram update was already processed


@dataclass
class State:
    """What the bot needs to answer a respondent: status, position and the keyboard version."""

    status: Status
    progress: Progress | None = None
    version: int = 0
    outcome: Outcome | None = None
    answered: int = 0
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Job:
    """One respondent request waiting for its batch: act, status or show."""

    kind: str
    key: str
    update_id: int | None = None
    action: Action | None = None
    expected_version: int | None = None
    source: str | None = None
    restart: bool = False


@dataclass
class _Done:
    """A job's result, and whether its update claim must be given back (nothing was applied)."""

    state: State | None = None
    error: Exception | None = None
    release: bool = False


class _Gate:
    """The survey's field state for one batch: who may begin or go on, and the quota, counted exactly."""

    def __init__(self, conn: Connection, service: "SurveyService", now: datetime):
        self.conn, self.survey, self.now = conn, service.survey, now
        self.grace, self.zone = service.grace, service.zone
        self.availability = availability(self.survey.survey, fieldstate.read(conn, self.survey.id), now, self.grace,
                                         self.zone)
        self.completed: int | None = None  # completed responses, counted under the lock once needed

    def closed(self, in_progress: bool = True) -> State:
        """The answer to an action the survey does not take now (``in_progress``: the respondent has answers)."""
        return State(Status.CLOSED, extra={"availability": self.availability, "in_progress": in_progress,
                                           "zone": self.zone})

    def may_complete(self) -> bool:
        """Whether one more response may complete; the one that fills the quota closes the survey."""
        quota = self.survey.survey.quota
        if quota is None or not self.availability.quota_applies:
            return True
        if self.completed is None:
            # Locked, then counted: a second worker finishing at the same moment waits here and then
            # counts this one too, so the quota is never exceeded.
            state = fieldstate.read(self.conn, self.survey.id, lock=True)
            self.availability = availability(self.survey.survey, state, self.now, self.grace, self.zone)
            if not self.availability.quota_applies:
                return True
            self.completed = fieldstate.completed_count(self.conn, self.survey.id)
        if self.completed >= quota:
            self._quota_reached()
            return False
        self.completed += 1
        if self.completed == quota:
            self._quota_reached()
        return True

    def _quota_reached(self) -> None:
        if self.availability.why != Why.QUOTA:
            fieldstate.mark_quota_reached(self.conn, self.survey.id, self.now)
        self.availability = availability(self.survey.survey, FieldState(quota_reached_at=self.now), self.now,
                                         self.grace, self.zone)


def _answered(progress: Progress) -> int:
    return sum(1 for a in progress.answers.values() if not a.skipped)


def user_key(user_id: int, anonymity_key: str | None) -> str:
    """How a Telegram user is stored: the id itself, or a keyed hash of it when anonymous."""
    if anonymity_key is None:
        return str(user_id)
    return hmac.new(anonymity_key.encode(), str(user_id).encode(), hashlib.sha256).hexdigest()


class SurveyService:
    """Start, answer, go back, resume, restart and forget, each committed before it returns."""

    def __init__(self, survey: Survey, sessions: async_sessionmaker[AsyncSession], anonymity_key: str | None = None,
                 *, max_batch: int = 256, linger: float = 0.0, definition_id: int | None = None,
                 grace: timedelta = timedelta(hours=24), zone: tzinfo = timezone.utc):
        self.survey = survey
        self.definition_id = definition_id  # survey_definitions.id of this questionnaire, stored with new responses
        self.grace, self.zone = grace, zone
        self._gate: _Gate | None = None  # the field state of the batch being applied (batches run one at a time)
        self.sessions = sessions
        self.engine = sessions.kw["bind"]
        self.anonymity_key = anonymity_key
        # One writer at a time in this process: queueing here is cheap, SQLite's busy wait is not.
        self.write_lock = asyncio.Lock()
        self.writer = Writer(self.engine)
        self.batches: GroupCommit[Job] = GroupCommit(self._run_batch, max_batch=max_batch, linger=linger)

    def close(self) -> None:
        """Close the batch writer's own connections (call when the engine is disposed)."""
        self.writer.dispose()

    def key(self, user_id: int) -> str:
        """The stored key of a Telegram user."""
        return user_key(user_id, self.anonymity_key)

    async def _submit(self, job: Job) -> State:
        result = await self.batches.submit(job)
        assert isinstance(result, State)
        return result

    async def status(self, user_id: int, source: str | None = None, update_id: int | None = None) -> State:
        """Where a user stands (creating the respondent on first contact, with its deep-link source)."""
        return await self._submit(Job("status", self.key(user_id), update_id, source=source))

    async def show(self, user_id: int, expected_version: int | None = None, *, restart: bool = False,
                   update_id: int | None = None) -> State:
        """Put the current question on screen again (starting or restarting the response when asked).

        The version is bumped so that keyboards sent earlier stop working: only the newest one counts.
        """
        return await self._submit(Job("show", self.key(user_id), update_id, expected_version=expected_version,
                                      restart=restart))

    async def act(self, user_id: int, action: Action, expected_version: int | None = None,
                  update_id: int | None = None) -> State:
        """Apply one respondent action; STALE when the button's version is not the current one."""
        return await self._submit(Job("act", self.key(user_id), update_id, action=action,
                                      expected_version=expected_version))

    async def _run_batch(self, batch: list[Pending[Job]], attempt: int = 0) -> None:
        """One transaction for a batch of requests; if it fails, each request is retried alone."""
        jobs = [p.item for p in batch]
        try:
            async with self.write_lock:
                results = await self.writer.run(lambda conn: self._apply(conn, jobs))
        except Exception as exc:  # noqa: BLE001 - decided per request below
            if len(batch) == 1:
                # Another process won a race for the same rows (PostgreSQL, several workers): by now
                # it has committed, so a fresh transaction reads its result and goes on from there.
                if attempt < CONFLICT_RETRIES and is_conflict(exc):
                    await self._run_batch(batch, attempt + 1)
                else:
                    batch[0].fail(exc)
                return
            # One bad request must not cost the others their answers.
            for p in batch:
                await self._run_batch([p])
            return
        for p, done in zip(batch, results):
            p.fail(done.error) if done.error is not None else p.resolve(done.state)

    def _apply(self, conn: Connection, jobs: list[Job]) -> list[_Done]:
        """Claim the updates, read every position at once, run the requests in order, write the changes."""
        claimed = claim_updates(conn, list(dict.fromkeys(j.update_id for j in jobs if j.update_id is not None)))
        positions = load_positions(conn, self.survey.id, list(dict.fromkeys(j.key for j in jobs)))
        # status and show create the respondent on first contact (with the source of the first request).
        new: dict[str, str | None] = {}
        for j in jobs:
            if j.kind != "act" and j.key not in positions and (j.update_id is None or j.update_id in claimed):
                new.setdefault(j.key, j.source)
        positions |= add_respondents(conn, new)
        now = utcnow()
        relocated = self._relocate(positions, now)
        self._gate = _Gate(conn, self, now)
        results: list[_Done] = []
        seen: set[int] = set()
        for job in jobs:
            if job.update_id is not None:
                if job.update_id not in claimed or job.update_id in seen:
                    results.append(_Done(State(Status.DUPLICATE)))
                    continue
                seen.add(job.update_id)
            if job.kind == "act" and job.key in relocated:
                # The tap or text was meant for a question the edited questionnaire no longer has:
                # it is not applied to another question; the respondent is shown where they continue.
                relocated.discard(job.key)
                pos = positions[job.key]
                results.append(_Done(State(Status.IN_PROGRESS, pos.progress, pos.version, extra={"relocated": True})))
                continue
            try:
                handler = {"act": self._act_on, "status": self._status_of, "show": self._show_on}[job.kind]
                results.append(handler(positions.get(job.key), job, now))
            except Exception as exc:  # noqa: BLE001 - only this request fails; its update may be redelivered
                results.append(_Done(error=exc, release=True))
        self._gate = None
        save_positions(conn, self.survey, list(positions.values()))
        release_updates(conn, [j.update_id for j, d in zip(jobs, results) if d.release and j.update_id is not None])
        return results

    def _relocate(self, positions: dict[str, Position], now) -> set[str]:  # noqa: ANN001
        """Fit in-progress positions to the questionnaire as it is now; the keys whose question moved.

        A moved position gets a new version (saved with this batch), so keyboards drawn for the
        removed question stop working instead of answering a different one.
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

    def _status_of(self, pos: Position, job: Job, now) -> _Done:  # noqa: ANN001
        extra = {"availability": self._gate.availability}
        if pos.response_id is None and not pos.created:
            return _Done(State(Status.NEW, extra=extra))
        status = Status.COMPLETED if pos.status == COMPLETED else Status.IN_PROGRESS
        return _Done(State(status, pos.progress, pos.version, answered=_answered(pos.progress), extra=extra))

    def _show_on(self, pos: Position, job: Job, now) -> _Done:  # noqa: ANN001
        exists = pos.response_id is not None or pos.created
        if job.expected_version is not None and job.expected_version != (pos.version if exists else 0):
            return _Done(State(Status.STALE), release=True)
        gate = self._gate
        if (not exists or job.restart) and gate.availability.phase != Phase.OPEN:
            return _Done(gate.closed(in_progress=exists), release=True)
        if exists and pos.status != COMPLETED and not gate.availability.may_continue(now):
            return _Done(gate.closed(), release=True)
        if not exists or job.restart:
            pos.begin(self.survey, flow.start(self.survey).current, now)
            pos.definition_id = self.definition_id
        elif pos.status == COMPLETED:
            return _Done(State(Status.COMPLETED), release=True)
        else:
            pos.advance(Outcome(flow.Kind.REDRAW, pos.progress), now)
        return _Done(State(Status.IN_PROGRESS, pos.progress, pos.version))

    def _act_on(self, pos: Position | None, job: Job, now) -> _Done:  # noqa: ANN001
        """Check version and status, run the pure flow, advance the position in memory."""
        if pos is None or (pos.response_id is None and not pos.created):
            return _Done(State(Status.NEW))
        if job.expected_version is not None and job.expected_version != pos.version:
            return _Done(State(Status.STALE))
        if pos.status == COMPLETED:
            return _Done(State(Status.COMPLETED))
        if not self._gate.availability.may_continue(now):
            return _Done(self._gate.closed())
        outcome = flow.apply(self.survey, pos.progress, job.action)
        if outcome.kind == flow.Kind.FINISHED and not self._gate.may_complete():
            return _Done(self._gate.closed())
        if outcome.kind != flow.Kind.REJECTED:
            pos.advance(outcome, now)
        return _Done(State(Status.APPLIED, outcome.progress, pos.version, outcome=outcome,
                           answered=_answered(outcome.progress)))

    async def mark_blocked(self, user_id: int) -> None:
        """Remember that a user blocked the bot."""
        async with self.write_lock, UnitOfWork(self.sessions) as uow:
            await uow.repo.mark_blocked(self.key(user_id))
            await uow.commit()

    async def forget(self, user_id: int) -> bool:
        """Delete everything stored about a user; False when nothing was stored."""
        async with self.write_lock:
            async with UnitOfWork(self.sessions) as uow:
                found = await uow.repo.forget(self.key(user_id))
                await uow.commit()
            # The deleted rows are still in SQLite's write-ahead log until a checkpoint overwrites it.
            self.writer.truncate_wal()
        return found

    async def record(self, user_id: int) -> dict | None:
        """Everything stored about a user (None when nothing is)."""
        async with self.write_lock, UnitOfWork(self.sessions) as uow:
            return await respondent_record(uow.repo, self.key(user_id))
