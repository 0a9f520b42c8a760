"""SQLAlchemy models: respondents, their responses, and one row per answered question."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from storage import clock

# Stable constraint names so the same migrations run on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

IN_PROGRESS = "in_progress"
COMPLETED = "completed"


def utcnow() -> datetime:
    """The current time in UTC (stored as timezone-aware), from the steady clock (storage/clock.py): a backward
    step of the system clock does not move it."""
    return clock.utcnow()


def as_utc(value: datetime | None) -> datetime | None:
    """A stored moment as an aware UTC datetime: naive values are UTC already (SQLite keeps no zone)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class UTCDateTime(TypeDecorator):
    """A moment in UTC, timezone-aware when read back from either database.

    PostgreSQL keeps it as timestamptz; SQLite has no zones, so the naive UTC value is stored and the zone
    is put back on reading. Naive values given to it are taken to be UTC already.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        value = as_utc(value)
        if value is None:
            return None
        # SQLite would write the wall-clock digits and drop the zone; keep the text in UTC so it sorts.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return as_utc(value)


class TypedText(TypeDecorator):
    """Text a person typed, with NUL characters dropped."""

    # PostgreSQL cannot store NUL in text, and both databases should hold the same answer.
    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect) -> str | None:
        return value.replace("\x00", "") if value else value


class TypedString(TypedText):
    """A bounded string a person typed (e.g. a deep-link parameter), NUL dropped like TypedText."""

    impl = String  # type: ignore[assignment]  # String is Text's base in SQLAlchemy, not a subtype
    cache_ok = True


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Respondent(Base):
    """A Telegram user who opened the bot (or a keyed hash of them when anonymous)."""

    __tablename__ = "respondents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # str(telegram id), or an HMAC of it when ANONYMOUS=true; never a name or username.
    user_key: Mapped[str] = mapped_column(String(64), unique=True)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    source: Mapped[str | None] = mapped_column(TypedString(64))
    blocked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The language the bot speaks to them (a code of the questionnaire's languages): their Telegram language on
    # first contact when the questionnaire has it, or what they chose with /language. NULL: rows from before
    # languages existed, read as the questionnaire's default language.
    language: Mapped[str | None] = mapped_column(TypedString(16))

    responses: Mapped[list[Response]] = relationship(back_populates="respondent", passive_deletes=True)


class Response(Base):
    """One pass through one questionnaire; also holds the respondent's position in it."""

    __tablename__ = "responses"
    __table_args__ = (UniqueConstraint("respondent_id", "survey_id", name="uq_responses_respondent_survey"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    respondent_id: Mapped[int] = mapped_column(ForeignKey("respondents.id", ondelete="CASCADE"))
    survey_id: Mapped[str] = mapped_column(String(64))
    survey_version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=IN_PROGRESS, index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The position: the question shown now (None once completed) and input not yet confirmed.
    current_question: Mapped[str | None] = mapped_column(String(64))
    draft: Mapped[str | None] = mapped_column(Text)  # multiple-choice selection (storage.records encoding)
    draft_other: Mapped[str | None] = mapped_column(TypedText)
    awaiting_other: Mapped[bool] = mapped_column(Boolean, default=False)
    # Bumped on every change; buttons carry it, so old or doubled taps are recognised.
    version: Mapped[int] = mapped_column(Integer, default=1)
    # The questionnaire it started on: survey_definitions.id (None for responses started before migration 0005).
    definition_id: Mapped[int | None] = mapped_column(Integer)
    # Reminders (storage/reminders.py): how many were claimed, the first delivered one and the last claim. The
    # respondent's own writes never touch these, and a claim never touches the position or its version.
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    first_reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The seed of this respondent's random orders of options and questions (survey.randomize); None for responses
    # started before migration 0009, which use their id instead (storage.records.order_seed).
    order_seed: Mapped[int | None] = mapped_column(BigInteger)
    # The questionnaire's consent text version the respondent agreed to (None: no consent step, or before 0008).
    consent_version: Mapped[str | None] = mapped_column(String(64))
    # Timings (docs/researchers/quality.md): the question first shown among those not yet answered, and when.
    # Copied to answers.shown_at when it is answered; redraws, reminders and Back keep it.
    shown_question: Mapped[str | None] = mapped_column(String(64))
    shown_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    respondent: Mapped[Respondent] = relationship(back_populates="responses")


class SurveyDefinition(Base):
    """A questionnaire file the bot has run, kept whole so later edits can be compared with it."""

    __tablename__ = "survey_definitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    survey_id: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 of the canonical JSON
    definition: Mapped[str] = mapped_column(Text)  # the questionnaire as JSON
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    activated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)  # the last start on it


class SurveyState(Base):
    """A survey's field state shared by every worker: the admin's /open or /close, and the quota moment."""

    __tablename__ = "survey_state"

    survey_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    manual: Mapped[str | None] = mapped_column(String(8))  # "open" / "closed" by an admin, or None (dates decide)
    changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    quota_reached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Answer(Base):
    """The answer to one question of one response (a skip is an answer too)."""

    __tablename__ = "answers"
    __table_args__ = (
        UniqueConstraint("response_id", "question_id", name="uq_answers_response_question"),
        Index("ix_answers_question", "question_id", "skipped", "number"),  # summaries group by these
        # The few typed "other" answers, found without walking every answer of the choice questions.
        Index(
            "ix_answers_other",
            "question_id",
            sqlite_where=text("other_text IS NOT NULL"),
            postgresql_where=text("other_text IS NOT NULL"),
        ),
        Index("ix_answers_answered_at", "answered_at"),  # first / last answer time: MIN/MAX stop early
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("responses.id", ondelete="CASCADE"))
    question_id: Mapped[str] = mapped_column(String(64))
    # Option ids for loading, encoded by storage.records.encode_choices; counting uses answer_choices.
    choices: Mapped[str | None] = mapped_column(Text)
    number: Mapped[int | None] = mapped_column(BigInteger)
    text: Mapped[str | None] = mapped_column(TypedText)
    other_text: Mapped[str | None] = mapped_column(TypedText)
    skipped: Mapped[bool] = mapped_column(Boolean, default=False)
    # The option ids in the order their buttons were shown, for questions shown in random order
    # (storage.records.encode_choices); None otherwise and for answers stored before migration 0009.
    option_order: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)  # the final answer (or Keep)
    shown_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # first shown; None for answers before 0008


class AnswerChoice(Base):
    """One selected option of a choice answer: the table summaries GROUP BY."""

    __tablename__ = "answer_choices"
    # With response_id, a filter "question = option" reads the index alone (migration 0014).
    __table_args__ = (Index("ix_answer_choices_question_option", "question_id", "option_id", "response_id"),)

    response_id: Mapped[int] = mapped_column(ForeignKey("responses.id", ondelete="CASCADE"), primary_key=True)
    question_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    option_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class AnswerCount(Base):
    """How many stored answers of a survey's responses have one key (storage/answer_counts.py): kept with every write
    of answers, so the full /stats reads these rows instead of grouping every answer."""

    __tablename__ = "answer_counts"

    survey_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    question_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # "n" answered, "s" skipped, "v" a number's value, "o" an option chosen (storage/answer_counts.py)
    kind: Mapped[str] = mapped_column(String(1), primary_key=True)
    value: Mapped[str] = mapped_column(String(64), primary_key=True)  # "" for "n" and "s"
    n: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))


class ConsentDecline(Base):
    """How many declined a survey's consent step (per consent version): a bare counter, nobody's id or time."""

    __tablename__ = "consent_declines"

    survey_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    consent_version: Mapped[str] = mapped_column(String(64), primary_key=True)
    declines: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


class ProcessedUpdate(Base):
    """Telegram update ids already applied, so a redelivered update changes nothing."""

    __tablename__ = "processed_updates"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # The respondent's position version this update left behind: a redelivery finding it unchanged knows the
    # respondent has done nothing since, so answering it again shows them nothing out of date (None: unknown).
    version_after: Mapped[int | None] = mapped_column(Integer)
    # True once the update's handling ended (its reply went out), noted with the worker's next transaction.
    replied: Mapped[bool | None] = mapped_column(Boolean)


# The sending budget PostgreSQL workers share (storage/sendbudget.py reads and writes it in SQL of its own): one
# row of tokens and time slots, and one heartbeat row per live worker.
send_budget = Table(
    "send_budget", Base.metadata,
    Column("id", Integer, primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("counted_at", DateTime(timezone=True), nullable=False),
    Column("interactive_until", DateTime(timezone=True)),
    Column("next_slot_at", DateTime(timezone=True)),
)
send_workers = Table(
    "send_workers", Base.metadata,
    Column("worker_id", String(80), primary_key=True),
    Column("seen_at", DateTime(timezone=True), nullable=False),
)
