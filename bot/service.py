"""The respondent service: one transaction per respondent action, no Telegram in here.

Handlers call these methods; each commits before returning, so the bot only shows the next
question once the answer is durable. The respondent's position comes from the database on
every call, which is what lets a killed bot resume exactly where people were.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import COMPLETED
from storage.repository import UnitOfWork, respondent_record
from survey import flow
from survey.flow import Action, Outcome, Progress
from survey.model import Survey


class Status(StrEnum):
    """How a request to the service ended."""

    NEW = "new"  # never started this survey
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    APPLIED = "applied"  # the action went through (see outcome.kind)
    STALE = "stale"  # the button belongs to an older message
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


def user_key(user_id: int, anonymity_key: str | None) -> str:
    """How a Telegram user is stored: the id itself, or a keyed hash of it when anonymous."""
    if anonymity_key is None:
        return str(user_id)
    return hmac.new(anonymity_key.encode(), str(user_id).encode(), hashlib.sha256).hexdigest()


class SurveyService:
    """Start, answer, go back, resume, restart and forget, each as one committed transaction."""

    def __init__(self, survey: Survey, sessions: async_sessionmaker[AsyncSession], anonymity_key: str | None = None):
        self.survey = survey
        self.sessions = sessions
        self.anonymity_key = anonymity_key

    def key(self, user_id: int) -> str:
        """The stored key of a Telegram user."""
        return user_key(user_id, self.anonymity_key)

    async def status(self, user_id: int, source: str | None = None, update_id: int | None = None) -> State:
        """Where a user stands (creating the respondent on first contact, with its deep-link source)."""
        async with UnitOfWork(self.sessions) as uow:
            if update_id is not None and not await uow.repo.claim_update(update_id):
                return State(Status.DUPLICATE)
            respondent = await uow.repo.respondent(self.key(user_id))
            if respondent is None:
                respondent = await uow.repo.add_respondent(self.key(user_id), source)
            response = await uow.repo.response(respondent.id, self.survey.id)
            if response is None:
                await uow.commit()
                return State(Status.NEW)
            progress = await uow.repo.progress(response)
            await uow.commit()
        status = Status.COMPLETED if response.status == COMPLETED else Status.IN_PROGRESS
        answered = sum(1 for a in progress.answers.values() if not a.skipped)
        return State(status, progress, response.version, answered=answered)

    async def show(self, user_id: int, expected_version: int | None = None, *, restart: bool = False,
                   update_id: int | None = None) -> State:
        """Put the current question on screen again (starting or restarting the response when asked).

        The version is bumped so that keyboards sent earlier stop working: only the newest one counts.
        """
        async with UnitOfWork(self.sessions) as uow:
            if update_id is not None and not await uow.repo.claim_update(update_id):
                return State(Status.DUPLICATE)
            repo = uow.repo
            respondent = await repo.respondent(self.key(user_id))
            if respondent is None:
                respondent = await repo.add_respondent(self.key(user_id), None)
            response = await repo.response(respondent.id, self.survey.id)
            current_version = response.version if response else 0
            if expected_version is not None and expected_version != current_version:
                return State(Status.STALE)
            first = flow.start(self.survey).current
            if response is None:
                response = await repo.start_response(respondent, self.survey, first)
            elif restart:
                await repo.restart(response, self.survey, first)
            elif response.status == COMPLETED:
                return State(Status.COMPLETED)
            else:
                progress = await repo.progress(response)
                await repo.save(response, Outcome(flow.Kind.REDRAW, progress))
            progress = await repo.progress(response)
            await uow.commit()
        return State(Status.IN_PROGRESS, progress, response.version)

    async def act(self, user_id: int, action: Action, expected_version: int | None = None,
                  update_id: int | None = None) -> State:
        """Apply one respondent action; STALE when the button's version is not the current one."""
        async with UnitOfWork(self.sessions) as uow:
            if update_id is not None and not await uow.repo.claim_update(update_id):
                return State(Status.DUPLICATE)
            respondent = await uow.repo.respondent(self.key(user_id))
            response = await uow.repo.response(respondent.id, self.survey.id) if respondent else None
            if response is None:
                await uow.commit()
                return State(Status.NEW)
            if expected_version is not None and expected_version != response.version:
                await uow.commit()
                return State(Status.STALE)
            if response.status == COMPLETED:
                await uow.commit()
                return State(Status.COMPLETED)
            progress = await uow.repo.progress(response)
            outcome = flow.apply(self.survey, progress, action)
            if outcome.kind != flow.Kind.REJECTED:
                await uow.repo.save(response, outcome)
            await uow.commit()
        answered = sum(1 for a in outcome.progress.answers.values() if not a.skipped)
        return State(Status.APPLIED, outcome.progress, response.version, outcome=outcome, answered=answered)

    async def mark_blocked(self, user_id: int) -> None:
        """Remember that a user blocked the bot."""
        async with UnitOfWork(self.sessions) as uow:
            await uow.repo.mark_blocked(self.key(user_id))
            await uow.commit()

    async def forget(self, user_id: int) -> bool:
        """Delete everything stored about a user; False when nothing was stored."""
        async with UnitOfWork(self.sessions) as uow:
            found = await uow.repo.forget(self.key(user_id))
            await uow.commit()
        return found

    async def record(self, user_id: int) -> dict | None:
        """Everything stored about a user (None when nothing is)."""
        async with UnitOfWork(self.sessions) as uow:
            return await respondent_record(uow.repo, self.key(user_id))
