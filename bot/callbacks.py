"""Compact callback data: what a button means, parsed strictly.

Formats (all ASCII, at most 64 bytes, which Telegram enforces):
  a:<version>:<act>[:<arg>]   an answer action on the current question
                              act: o=choose option/scale value, t=toggle, x=other, d=done,
                                   k=keep the current answer, s=skip, b=back
  m:<version>:<begin|cont|restart>   the /start menu
  f:<yes|no>                  /forget_me confirmation
  l:<code>                    /language: the language chosen (a code of the questionnaire's languages)
  c:<yes|no>[:<source>]       the consent step (yes carries the /start deep link, when it fits)
  st:<view>[:c][:w:<where>|:k:<key>]   admin summary buttons (charts, funnel, exports) that keep
                              the summary's filter: c = completed only, w = the where conditions
                              (space-separated), k = a key of a filter too long to travel here
Anything else is forged or stale and is refused without touching state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from survey import flow

MAX_BYTES = 64
_ANSWER = re.compile(r"a:(\d{1,9}):(?:([ot]):([a-z0-9_]{1,32})|([xdksb]))")
_MENU = re.compile(r"m:(\d{1,9}):(begin|cont|restart)")
_FORGET = re.compile(r"f:(yes|no)")
_LANGUAGE = re.compile(r"l:([a-z]{2,3}(?:-[a-z0-9]{2,8}){0,3})")
_CONSENT = re.compile(r"c:(yes|no)(?::([A-Za-z0-9_-]{1,58}))?")
_STATS = re.compile(r"st:(charts|funnel|export_csv|export_xlsx)(:c)?(?::w:([!-~][ -~]*)|:k:([0-9a-f]{1,16}))?")


STATS_PREFIX = "st:"  # admin summary buttons: the wiring routes callback data starting so to bot/admin


class MenuChoice(StrEnum):
    """The /start menu's buttons."""

    BEGIN = "begin"
    CONTINUE = "cont"
    RESTART = "restart"


class StatsView(StrEnum):
    """What an admin summary button asks for."""

    CHARTS = "charts"
    FUNNEL = "funnel"
    EXPORT_CSV = "export_csv"
    EXPORT_XLSX = "export_xlsx"


@dataclass(frozen=True)
class AnswerButton:
    """A tap on a question keyboard made at ``version``."""

    version: int
    action: flow.Action


@dataclass(frozen=True)
class MenuButton:
    """A tap on the /start menu."""

    version: int
    choice: MenuChoice


@dataclass(frozen=True)
class ForgetButton:
    """The answer to the /forget_me confirmation."""

    confirmed: bool


@dataclass(frozen=True)
class StatsButton:
    """An admin summary button, with the filter of the summary it was drawn under."""

    view: StatsView
    completed_only: bool = False
    where: tuple[str, ...] = ()
    key: str | None = None  # a stored filter (see stats_button_data)


@dataclass(frozen=True)
class LanguageButton:
    """A language chosen under /language (whether the questionnaire has it is checked where it is applied)."""

    language: str


@dataclass(frozen=True)
class ConsentButton:
    """The answer to the consent step, with the deep link the respondent came through (None: none, or too long)."""

    agreed: bool
    source: str | None = None


Parsed = AnswerButton | MenuButton | ForgetButton | LanguageButton | ConsentButton | StatsButton

_SIMPLE: dict[str, flow.Action] = {"x": flow.ChooseOther(), "d": flow.Done(), "k": flow.Keep(), "s": flow.Skip(), "b": flow.Back()}


def parse(data: str | None) -> Parsed | None:
    """The meaning of callback data, or None when it is not ours."""
    if not data or len(data.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        return None
    if m := _ANSWER.fullmatch(data):
        version, kind, arg, simple = m.groups()
        if simple:
            return AnswerButton(int(version), _SIMPLE[simple])
        action = flow.Choose(arg) if kind == "o" else flow.Toggle(arg)
        return AnswerButton(int(version), action)
    if m := _MENU.fullmatch(data):
        return MenuButton(int(m.group(1)), MenuChoice(m.group(2)))
    if m := _FORGET.fullmatch(data):
        return ForgetButton(m.group(1) == "yes")
    if m := _LANGUAGE.fullmatch(data):
        return LanguageButton(m.group(1))
    if m := _CONSENT.fullmatch(data):
        return ConsentButton(m.group(1) == "yes", m.group(2))
    if m := _STATS.fullmatch(data):
        view, completed, where, key = m.groups()
        return StatsButton(StatsView(view), completed is not None, tuple(where.split()) if where else (), key)
    return None


def stats_button_data(view: StatsView, completed_only: bool = False, where: tuple[str, ...] = (), key: str | None = None) -> str | None:
    """Callback data of a summary button keeping its filter; None when the filter does not fit (use a key)."""
    data = f"st:{view}" + (":c" if completed_only else "")
    if key is not None:
        return _check(f"{data}:k:{key}")
    if where:
        data += ":w:" + " ".join(where)
    if not data.isascii() or len(data.encode()) > MAX_BYTES or not _STATS.fullmatch(data):
        return None
    return data


def _check(data: str) -> str:
    assert len(data.encode()) <= MAX_BYTES, data
    return data


def choose(version: int, value: str) -> str:
    """Callback data for picking an option id or a scale value."""
    return _check(f"a:{version}:o:{value}")


def toggle(version: int, option_id: str) -> str:
    """Callback data for toggling a multiple-choice option."""
    return _check(f"a:{version}:t:{option_id}")


def simple(version: int, act: str) -> str:
    """Callback data for other (x), done (d), keep (k), skip (s) or back (b)."""
    assert act in _SIMPLE
    return f"a:{version}:{act}"


def consent(agreed: bool, source: str | None = None) -> str:
    """Callback data of the consent buttons; the deep link rides on «agree» when it fits (else it is dropped)."""
    data = "c:yes" if agreed else "c:no"
    if agreed and source and _CONSENT.fullmatch(f"{data}:{source}"):
        data += f":{source}"
    return _check(data)


def menu(version: int, choice: MenuChoice) -> str:
    """Callback data for the /start menu."""
    return _check(f"m:{version}:{choice}")


def language(code: str) -> str:
    """Callback data for choosing a language under /language."""
    data = _check(f"l:{code}")
    assert _LANGUAGE.fullmatch(data), code
    return data
