"""Configuration from the environment (and an optional .env file), read only when asked."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

TOKEN_RE = re.compile(r"^\d{3,20}:[A-Za-z0-9_-]{30,100}$")
# Telegram sends this id for anonymous group admins; it must never count as an admin.
ANONYMOUS_ADMIN_ID = 1087968824


class SettingsError(Exception):
    """Configuration that cannot work; the message is one line for stderr."""


class Settings(BaseSettings):
    """Everything an operator can set. Each field's description is the meaning column of the configuration
    table (docs/operators/configuration.md, rendered by settings_markdown())."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    bot_token: Annotated[
        SecretStr | None,
        Field(
            description="token from @BotFather; missing or malformed → one line on stderr, exit code 2",
            json_schema_extra={"shown_default": "— (required for `run`)"},
        ),
    ] = None
    admin_ids: Annotated[
        frozenset[int],
        NoDecode,
        Field(description="comma-separated numeric Telegram ids of the researchers (`/stats`, `/export`)"),
    ] = frozenset()
    database_url: Annotated[
        str,
        Field(description="SQLAlchemy async URL; `postgresql+asyncpg://user:pass@host/db` for PostgreSQL"),
    ] = "sqlite+aiosqlite:///surveybot.db"
    telegram_api_url: Annotated[
        str,
        Field(
            description="Bot API base; the bot calls `<url>/bot<token>/…` and `<url>/file/bot<token>/…` "
            "(a self-hosted Bot API server, or a local test server)"
        ),
    ] = "https://api.telegram.org"
    survey_file: Annotated[
        Path | None,
        Field(
            description="path of a questionnaire file: YAML, or an XLSForm (`.xlsx`, `.xls`, `.csv`)",
            json_schema_extra={"shown_default": "the bundled study"},
        ),
    ] = None
    log_level: Annotated[
        str, Field(description="`DEBUG`, `INFO`, `WARNING`, …; the token never appears in logs")
    ] = "INFO"
    anonymous: Annotated[bool, Field(description="store a keyed hash instead of the Telegram id")] = False
    anonymity_key: Annotated[
        SecretStr | None,
        Field(description="the key of that hash (16+ characters; required with `ANONYMOUS=true`)"),
    ] = None
    notify_admins_every: Annotated[
        int,
        Field(
            ge=0,
            description="send admins a one-line progress note every N completed responses",
            json_schema_extra={"shown_default": "`0` (off)"},
        ),
    ] = 0
    quality_speeder_ratio: Annotated[
        float,
        Field(
            gt=0,
            lt=1,
            description="a completed response taking less than this share of the median completion time is flagged "
            "`speeder` (the usual rule in survey methodology is one third; see the quality flags page)",
            json_schema_extra={"shown_default": "`0.333` (⅓)"},
        ),
    ] = 1 / 3
    export_note_after_seconds: Annotated[
        float,
        Field(
            ge=0,
            description="an export (or report) still being built after this long shows Telegram's «sending a file» "
            "status and a «Готовлю файл… 40 000 из 100 000» note in the chat, replaced by the file",
        ),
    ] = 2.0
    export_note_every_seconds: Annotated[
        float,
        Field(gt=0, description="how often that note is edited with the rows done, at most (a bulk send)"),
    ] = 3.0
    flood_messages: Annotated[
        int,
        Field(
            ge=1,
            description="messages a user may send within `FLOOD_WINDOW_SECONDS` before being slowed down "
            "(button taps get three times as many)",
        ),
    ] = 20
    flood_window_seconds: Annotated[
        float, Field(gt=0, description="the window of the per-user flood limit, in seconds")
    ] = 10.0
    outgoing_max_rate: Annotated[
        float,
        Field(
            ge=0,
            description="the bot's sending budget: messages per second across all chats (Telegram's limit); "
            "`0` turns pacing off (a local Bot API server, tests)",
        ),
    ] = 30.0
    telegram_timeout_seconds: Annotated[
        float,
        Field(
            gt=0,
            le=300,
            description="how long to wait for the Bot API to answer one call; a call that times out is made again",
        ),
    ] = 5.0
    telegram_retry_seconds: Annotated[
        float,
        Field(
            ge=0,
            le=600,
            description="how long a Bot API call failing in transit (5xx, timeout, lost answer) is made again "
            "before it is given up",
        ),
    ] = 20.0
    health_file: Annotated[
        Path,
        Field(description="where `surveybot run` writes its health report (read by `surveybot health`)"),
    ] = Path("surveybot-health.json")
    health_interval_seconds: Annotated[
        float,
        Field(
            gt=0,
            le=3600,
            description="how often the running bot checks the database and the Bot API and rewrites `HEALTH_FILE`",
        ),
    ] = 15.0
    webhook_url: Annotated[
        str | None, Field(description="public HTTPS base URL for `surveybot run --webhook`")
    ] = None
    webhook_listen: Annotated[str, Field(description="the address the webhook server listens on")] = "127.0.0.1"
    webhook_port: Annotated[
        int, Field(ge=1, le=65535, description="the port the webhook server listens on (one per worker)")
    ] = 8443
    webhook_path: Annotated[
        str, Field(description="the URL path of the webhook: Telegram posts to `WEBHOOK_URL/WEBHOOK_PATH`")
    ] = "telegram"
    webhook_secret: Annotated[
        SecretStr | None,
        Field(
            description="Telegram sends it in `X-Telegram-Bot-Api-Secret-Token`; requests without it get 403",
            json_schema_extra={"shown_default": "— (required with `--webhook`)"},
        ),
    ] = None
    webhook_max_connections: Annotated[
        int,
        Field(
            ge=1,
            le=100,
            description="how many webhook requests Telegram keeps open at once, across all workers (setWebhook's "
            "`max_connections`); each is answered only once its update is applied",
        ),
    ] = 40
    webhook_answer_seconds: Annotated[
        float,
        Field(
            gt=0,
            le=300,
            description="how long a webhook request waits for its update to be applied; past it Telegram is "
            "answered 503 and delivers the update again (applied once all the same)",
        ),
    ] = 30.0
    close_grace: Annotated[
        timedelta,
        Field(
            description="after a closing by date or `/close`, respondents already in progress may finish for "
            "this long (`30m`, `2d`, `0s`, or seconds)"
        ),
    ] = timedelta(hours=24)
    accept_changes: Annotated[
        bool, Field(description="the same as `surveybot run --accept-changes`")
    ] = False
    timezone: Annotated[
        str,
        Field(
            description="the zone of the times in exports, of questionnaire dates written without one, of the "
            "dates the bot shows and of the reminders' quiet hours (an IANA name; `UTC` works too)"
        ),
    ] = "Europe/Moscow"
    remind_after: Annotated[
        timedelta | None,
        Field(
            description="remind a respondent whose response has been in progress and untouched this long: "
            "`24h`, `90m`, `30s`",
            json_schema_extra={"shown_default": "off"},
        ),
    ] = None
    remind_max: Annotated[
        int, Field(ge=1, le=10, description="reminders per response at most, `REMIND_AFTER` apart (1–10)")
    ] = 1
    remind_check_every: Annotated[
        timedelta | None,
        Field(
            description="how often the running bot asks the database for due reminders",
            json_schema_extra={"shown_default": "`REMIND_AFTER`/10, within 1 s – 60 s"},
        ),
    ] = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"TIMEZONE '{value}' is not a time zone name like Europe/Moscow or UTC") from None
        return value

    @field_validator("remind_after", "remind_check_every", mode="before")
    @classmethod
    def _remind_duration(cls, value: object) -> object:
        if isinstance(value, str):
            if value.strip().lower() in ("", "0", "off", "none", "no"):
                return None
            return parse_duration(value)
        return value

    @field_validator("remind_after", "remind_check_every")
    @classmethod
    def _positive(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError("must be a positive duration like 24h, 90m or 30s (or off)")
        return value

    def remind_period(self) -> float:
        """Seconds between two looks for due reminders."""
        if self.remind_check_every is not None:
            return self.remind_check_every.total_seconds()
        after = self.remind_after.total_seconds() if self.remind_after is not None else 600.0
        return min(60.0, max(1.0, after / 10))

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _parse_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.split(",") if p.strip()]
            if not all(re.fullmatch(r"\d{1,20}", p) for p in parts):
                raise ValueError("ADMIN_IDS must be numeric Telegram ids separated by commas")
            return frozenset(int(p) for p in parts)
        if isinstance(value, int):
            return frozenset({value})
        return value

    @field_validator("admin_ids")
    @classmethod
    def _no_anonymous_admin(cls, value: frozenset[int]) -> frozenset[int]:
        return frozenset(v for v in value if v != ANONYMOUS_ADMIN_ID)

    @field_validator("bot_token")
    @classmethod
    def _token_format(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not TOKEN_RE.match(value.get_secret_value().strip()):
            # Never echo the value: it is a secret even when malformed.
            raise ValueError("BOT_TOKEN is malformed (expected <digits>:<letters>, as @BotFather gives it)")
        return SecretStr(value.get_secret_value().strip()) if value is not None else None

    @field_validator("close_grace", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        return parse_duration(value) if isinstance(value, str) else value

    def zone(self) -> ZoneInfo:
        """The time zone of questionnaire dates and quiet hours."""
        return ZoneInfo(self.timezone)

    @field_validator("telegram_api_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @model_validator(mode="after")
    def _anonymity(self) -> Settings:
        if self.anonymous and (self.anonymity_key is None or len(self.anonymity_key.get_secret_value()) < 16):
            raise ValueError("ANONYMOUS=true needs ANONYMITY_KEY of at least 16 characters")
        return self

    def token(self) -> str:
        """The bot token; SettingsError when it is not set."""
        if self.bot_token is None:
            raise SettingsError(
                "BOT_TOKEN is not set: create a bot with @BotFather and put its token in the environment or .env"
            )
        return self.bot_token.get_secret_value()

    def is_admin(self, user_id: int | None) -> bool:
        """Whether a numeric Telegram user id is one of the admins."""
        return user_id is not None and user_id != ANONYMOUS_ADMIN_ID and user_id in self.admin_ids


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """'24h', '30m', '2d', '90s' or plain seconds as a timedelta; ValueError otherwise."""
    m = _DURATION.match(text.lower())
    if not m:
        raise ValueError(f"{text!r} is not a duration like 24h, 30m, 2d or 90s")
    return timedelta(seconds=float(m.group(1)) * _UNIT[m.group(2)])


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; a SettingsError carries a one-line reason."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        reasons = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]).upper()
            msg = err["msg"].removeprefix("Value error, ")
            reasons.append(f"{field}: {msg}" if field else msg)
        raise SettingsError("configuration error: " + "; ".join(reasons)) from None


def _shown(value: object) -> str:
    """A default as the configuration table shows it."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, frozenset | set | list | tuple) and not value:
        return "empty"
    if isinstance(value, float):
        return f"`{value:g}`"
    if isinstance(value, timedelta):
        seconds = int(value.total_seconds())
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if seconds and seconds % size == 0 and not (unit == "d" and seconds < 2 * 86400):
                return f"`{seconds // size}{unit}`"
        return f"`{seconds}s`"
    return f"`{value}`"


def settings_rows() -> list[tuple[str, str, str]]:
    """(ENV_NAME, default as shown, meaning) for every setting, in declaration order."""
    rows = []
    for name, field in Settings.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        shown = extra.get("shown_default")
        rows.append((name.upper(), str(shown) if shown is not None else _shown(field.default), field.description or ""))
    return rows


def settings_markdown() -> str:
    """The configuration table as markdown (docs/operators/configuration.md holds a copy; a test compares)."""
    lines = ["| variable | default | meaning |", "| --- | --- | --- |"]
    lines += [f"| `{env}` | {default} | {meaning} |" for env, default, meaning in settings_rows()]
    return "\n".join(lines) + "\n"
