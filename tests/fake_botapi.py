"""Fake Telegram Bot API server for end-to-end tests (stdlib only, listens on 127.0.0.1 only).

Usage::

    with FakeBotAPI() as api:                      # TELEGRAM_API_URL = api.url
        bot = telegram.Bot(api.token, base_url=f"{api.url}/bot", base_file_url=f"{api.url}/file/bot")
        alice = api.user(1001)
        alice.send("/start")
        alice.wait_for_text("Привет")                # blocking; in asyncio tests use
        await alice.await_text("Привет")             # (runs the wait in a worker thread)

Run ``python tests/fake_botapi.py`` to serve standalone and print the URL.

Options (each off by default, so tests that do not ask for them see an unlimited, faultless server):

- ``FakeBotAPI(limits=TelegramLimits())`` enforces Telegram's sending limits as documented: 30 messages a second
  per bot across chats, in one chat a burst of 10 then 1 a second, 20 a minute in one group. A call over a limit
  is answered ``429 Too Many Requests`` with ``retry_after`` and changes nothing; ``api.limit_hits`` lists them.
"""

from __future__ import annotations

import asyncio
import copy
import email.parser
import email.policy
import html.parser
import itertools
import json
import math
import random
import re
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOST = "127.0.0.1"  # the only address this module ever binds to
JSON = dict[str, Any]
Files = dict[str, tuple[bytes, str, str]]  # part name -> (content, filename, mime type)
NOT_MODIFIED = ("Bad Request: message is not modified: specified new message content and reply markup "
                "are exactly the same as a current content and reply markup of the message")
STR_KEYS = {"text", "caption", "callback_query_id", "inline_message_id", "parse_mode", "url", "emoji",
            "secret_token", "language_code", "name", "title", "description", "short_description",
            "action", "file_id", "photo", "document", "sticker", "voice", "audio", "video", "animation"}
FILE_KINDS = {"photo": "AgAC", "document": "BQAC", "sticker": "CAAC", "voice": "AwAC", "audio": "CQAC",
              "video": "BAAC", "animation": "CgAC"}
KIND_EXTRA: dict[str, JSON] = {
    "document": {}, "voice": {"duration": 3, "mime_type": "audio/ogg"},
    "audio": {"duration": 30, "mime_type": "audio/mpeg"},
    "video": {"width": 640, "height": 360, "duration": 5, "mime_type": "video/mp4"},
    "animation": {"width": 320, "height": 240, "duration": 2, "mime_type": "video/mp4"},
    "sticker": {"type": "regular", "width": 512, "height": 512, "is_animated": False, "is_video": False,
                "emoji": "👍", "set_name": "TestStickers"},
}
HTML_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "code",
             "pre", "blockquote", "tg-emoji"}
BUTTON_ACTIONS = {"callback_data", "url", "web_app", "login_url", "switch_inline_query", "pay", "copy_text",
                  "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "callback_game"}


@dataclass
class Faults:
    """Failures injected between the bot and this server (``FakeBotAPI(faults=Faults(...))``).

    A share ``rate`` of the calls whose method starts with one of ``methods`` fails, each with one of
    ``kinds``, dealt from a shuffled deck (seeded): every kind comes once in each round of ``len(kinds)`` faults,
    in a random order, so a run with a few dozen faults meets them all whatever the seed:
      http500, http502   answered with that status; nothing is done
      timeout            held ``hold`` seconds (longer than the bot waits), then 504; nothing is done
      slow_delivered     done, then held ``hold`` seconds before the answer (the bot has given up by then)
      lost               done, then the connection is closed without an answer
      garbled            done, then answered 200 with half of the JSON body
    and, not in the default deck (a proxy in front of Telegram, or Telegram's flood control, issue 24):
      html               answered with a proxy's HTML error page (status 403, 502 or 200 in turn); nothing is done
      truncated          answered 400 with half of a JSON error body; nothing is done
      endless            a 200 whose body never ends (a byte every 0.2 s); nothing is done
      flood              answered 429 Too Many Requests with ``retry_after``; nothing is done
    ``methods``: method name prefixes, matched case-insensitively ("" matches every method, getUpdates too).
    """

    rate: float = 0.15
    kinds: tuple[str, ...] = ("http500", "http502", "timeout", "slow_delivered", "lost", "garbled")
    methods: tuple[str, ...] = ("send", "edit")
    hold: float = 2.0
    seed: int = 0
    retry_after: int = 1


DONE_FIRST = {"slow_delivered", "lost", "garbled"}
DROP_CONNECTION = 0  # handle_http status meaning: close the connection without answering
ENDLESS = -1  # handle_http status meaning: start a 200 answer and never finish it
HTML_PAGE = (b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center>"
             b"<hr><center>nginx</center></body></html>")
HTML_STATUSES = (403, 502, 200)


class ApiError(Exception):
    """A Bot API error answer: HTTP status = error_code."""

    def __init__(self, code: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters


def bad(description: str) -> ApiError:
    """400 Bad Request with Telegram's wording."""
    return ApiError(400, f"Bad Request: {description}")


@dataclass
class TelegramLimits:
    """Telegram's sending limits (core.telegram.org/bots/faq), as the fake enforces them when asked.

    Only calls that deliver a message count (send*, edit*, copy*, forward*; not sendChatAction, answerCallbackQuery
    or anything without a chat_id); an album counts once per item. Per bot and per private chat the limits are
    token buckets (a burst, then a steady rate); per group a sliding window of one minute.
    """

    per_bot: float = 30.0  # messages a second across all chats ...
    per_bot_burst: float = 30.0  # ... with a short burst tolerated (one second's worth)
    chat_burst: float = 10.0  # one chat: a burst of 10 ...
    chat_rate: float = 1.0  # ... then one a second
    group_per_minute: int = 20  # one group: 20 a minute


def message_cost(method: str, p: JSON) -> int:
    """How many messages a call counts as against the limits (0: not counted)."""
    method = method.lower()
    if p.get("chat_id") is None or method == "sendchataction":
        return 0
    if method == "sendmediagroup":
        return max(1, len(p.get("media") or []) if isinstance(p.get("media"), list) else 1)
    return 1 if method.startswith(("send", "edit", "copy", "forward")) else 0


class _Limiter:
    """The state behind TelegramLimits (called with the API lock held)."""

    def __init__(self, limits: TelegramLimits) -> None:
        self.limits = limits
        self.bot: list[Any] = [limits.per_bot_burst, None]  # tokens, time of the last refill
        self.chats: dict[Any, list[float]] = {}
        self.groups: dict[Any, list[float]] = {}

    @staticmethod
    def _bucket(state: list[Any], rate: float, burst: float, now: float) -> float:
        state[0] = min(burst, state[0] + (now - (now if state[1] is None else state[1])) * rate)
        state[1] = now
        return state[0]

    def check(self, chat_id: Any, cost: int, now: float) -> tuple[str, float] | None:
        """(which limit, seconds until it allows) when over a limit; else spend and return None."""
        lim = self.limits
        bot = self._bucket(self.bot, lim.per_bot, lim.per_bot_burst, now)
        if bot < cost:
            return "bot", (cost - bot) / lim.per_bot
        group = isinstance(chat_id, str) or chat_id < 0
        if group:
            window = [t for t in self.groups.get(chat_id, []) if t > now - 60.0]
            self.groups[chat_id] = window
            if len(window) + cost > lim.group_per_minute:
                return "group", window[len(window) + cost - lim.group_per_minute - 1] + 60.0 - now
            window.extend([now] * cost)
        else:
            state = self.chats.setdefault(chat_id, [lim.chat_burst, now])
            tokens = self._bucket(state, lim.chat_rate, lim.chat_burst, now)
            if tokens < cost:
                return "chat", (cost - tokens) / lim.chat_rate
            state[0] -= cost
        self.bot[0] -= cost
        return None


@dataclass
class LimitHit:
    """One call answered 429 because it went over a limit."""

    time: float
    method: str
    chat_id: Any
    limit: str  # 'bot' | 'chat' | 'group'
    retry_after: int


@dataclass
class Call:
    """One received Bot API request."""

    method: str
    params: JSON
    time: float
    token: str
    status: int = 0
    description: str | None = None


@dataclass
class BotMessage:
    """A message the bot sent; mutated in place by edits (current state)."""

    chat_id: int
    message_id: int
    kind: str  # 'text' | 'photo' | 'document' | 'sticker' | 'voice' | ...
    raw: JSON  # the Message object as Telegram would return it now
    text: str | None = None  # rendered text (markup stripped) for kind == 'text'
    caption: str | None = None
    source: str | None = None  # text/caption exactly as sent (with markup)
    parse_mode: str | None = None
    reply_markup: JSON | None = None
    file: bytes | None = None
    filename: str | None = None
    media_group_id: str | None = None
    deleted: bool = False
    seq: int = 0  # global change stamp of the last create/edit/delete
    edits: list[JSON] = field(default_factory=list)

    @property
    def content(self) -> str:
        """Text or caption as the user sees it."""
        return self.text if self.text is not None else (self.caption or "")

    @property
    def keyboard(self) -> list[list[tuple[str, str | None]]]:
        """Inline keyboard as rows of (text, callback_data)."""
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [[(b.get("text", ""), b.get("callback_data")) for b in row] for row in rows]

    def __str__(self) -> str:
        kb = f" kb={self.keyboard}" if self.keyboard else ""
        gone = " [deleted]" if self.deleted else ""
        return f"#{self.message_id} {self.kind}{gone}: {self.content[:300]!r}{kb}"


# ----------------------------------------------------------------------------- parsing helpers
def _utf16(s: str) -> int:
    """Length in UTF-16 code units, as Telegram counts."""
    return len(s.encode("utf-16-le")) // 2


def _coerce(key: str, value: str) -> Any:
    """Decode a form value: JSON-looking values (ints, bools, objects, lists) become Python objects."""
    if key in STR_KEYS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _fix(s: str) -> str:
    """Undo surrogateescape from the email parser (UTF-8 header/field bytes)."""
    return s.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def parse_request(ctype: str, body: bytes, query: str) -> tuple[JSON, Files]:
    """Parse query string + urlencoded / multipart / JSON body into (params, files)."""
    fields = {k: v[-1] for k, v in urllib.parse.parse_qs(query, keep_blank_values=True).items()}
    files: Files = {}
    mime = ctype.split(";")[0].strip().lower()
    if mime == "application/json" and body:
        return {**{k: _coerce(k, v) for k, v in fields.items()}, **json.loads(body)}, files
    if mime == "multipart/form-data":
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + ctype.encode("latin-1") + b"\r\n\r\n" + body)
        for part in msg.iter_parts():
            name = _fix(part.get_param("name", header="content-disposition") or "")
            payload = part.get_payload(decode=True) or b""
            filename = part.get_filename()
            if filename is not None:
                files[name] = (payload, _fix(filename), part.get_content_type())
            else:
                fields[name] = payload.decode("utf-8")
    elif body:
        fields.update({k: v[-1] for k, v in urllib.parse.parse_qs(body.decode("utf-8"), True).items()})
    return {k: _coerce(k, v) for k, v in fields.items()}, files


class _HtmlText(html.parser.HTMLParser):
    """Validates Telegram HTML and collects the plain text."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.source, self.out, self.stack = source, [], []

    def _offset(self) -> int:
        line, col = self.getpos()
        before = "\n".join(self.source.split("\n")[: line - 1])
        return len(before.encode()) + (line > 1) + len(self.source.split("\n")[line - 1][:col].encode())

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag not in HTML_TAGS:
            raise bad(f'can\'t parse entities: Unsupported start tag "{tag}" at byte offset {self._offset()}')
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            want = f'"</{self.stack[-1]}>"' if self.stack else "nothing"
            raise bad(f"can't parse entities: Unmatched end tag at byte offset {self._offset()}, "
                      f'expected {want}, found "</{tag}>"')
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.out.append(data)


def _markdown_plain(text: str, v2: bool) -> str:
    """Validate (legacy or V2) Markdown like Telegram does and return the plain text."""
    out: list[str] = []
    opened: dict[str, int] = {}
    names = {"*": "Bold", "_": "Italic", "~": "Strikethrough", "|": "Spoiler", "`": "Code"}
    markers = "*_~|`" if v2 else "*_`"
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and (v2 or text[i + 1] in "_*`["):
            out.append(text[i + 1])
            i += 2
            continue
        if "`" in opened and c != "`":
            out.append(c)
        elif c in markers:
            if c in opened:
                del opened[c]
            else:
                opened[c] = len("".join(out).encode())
        elif c == "[":
            pass
        elif c == "]":
            if i + 1 < len(text) and text[i + 1] == "(":
                i = text.find(")", i) if ")" in text[i:] else len(text)
        elif v2 and c == ">" and (i == 0 or text[i - 1] == "\n"):
            pass
        elif v2 and c in "_*[]()~`>#+-=|{}.!":
            raise bad(f"can't parse entities: Character '{c}' is reserved and must be escaped with the preceding '\\'")
        else:
            out.append(c)
        i += 1
    if opened:
        mark, offset = next(iter(opened.items()))
        what = f"{names[mark]} entity" if v2 else "the entity starting"
        raise bad(f"can't parse entities: Can't find end of {what} at byte offset {offset}")
    return "".join(out)


def render(text: str, parse_mode: str | None) -> str:
    """Return the text the user sees, raising 400 on markup Telegram would reject."""
    mode = (parse_mode or "").lower()
    if mode == "html":
        parser = _HtmlText(text)
        parser.feed(text)
        parser.close()
        if parser.stack:
            raise bad(f'can\'t parse entities: Can\'t find end tag corresponding to start tag "{parser.stack[-1]}"')
        return "".join(parser.out)
    if mode in ("markdown", "markdownv2"):
        return _markdown_plain(text, v2=mode == "markdownv2")
    return text


def check_markup(markup: Any) -> JSON | None:
    """Validate reply_markup roughly like Telegram."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad("can't parse reply keyboard markup JSON object")
    for row in markup.get("inline_keyboard", []):
        for button in row:
            if not button.get("text") or not BUTTON_ACTIONS & button.keys():
                raise bad("text buttons are unallowed in the inline keyboard")
            if "callback_data" in button and not 1 <= len(str(button["callback_data"]).encode()) <= 64:
                raise bad("BUTTON_DATA_INVALID")
    return markup


# ----------------------------------------------------------------------------- HTTP plumbing
class _Handler(BaseHTTPRequestHandler):
    """Routes HTTP requests to FakeBotAPI.handle_http."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, payload, ctype = self.server.api.handle_http(self.path, self.headers.get("Content-Type", ""), body)
        if status == DROP_CONNECTION:  # an injected fault: the answer is lost on its way back
            self.close_connection = True
            return
        if status == ENDLESS:  # an injected fault: an answer that never ends (until the client hangs up)
            self.close_connection = True
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "1000000")
                self.end_headers()
                self.wfile.write(b'{"ok":true,"result":')
                while not self.server.api._closed:
                    time.sleep(0.2)
                    self.wfile.write(b" ")
                    self.wfile.flush()
            except OSError:  # the client gave up, as it should
                pass
            return
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # client went away (e.g. cancelled long poll)
            self.close_connection = True

    do_GET = do_POST = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log."""


class _Server(ThreadingHTTPServer):
    # socketserver's default backlog of 5 drops connections when busy bots call at once.
    request_queue_size = 1024
    daemon_threads = True
    block_on_close = False
    api: FakeBotAPI


# ----------------------------------------------------------------------------- the fake API
class FakeBotAPI:
    """In-process fake Telegram Bot API with a simulated-user API for tests."""

    def __init__(self, token: str = "123456789:TEST-fake-token", poll_cap: float = 1.0,
                 limits: TelegramLimits | None = None, faults: Faults | None = None) -> None:
        self.token, self.poll_cap = token, poll_cap
        self._limiter = _Limiter(limits) if limits else None
        self.limit_hits: list[LimitHit] = []  # calls answered 429 by the limits (see TelegramLimits)
        self.faults = faults
        self.injected: list[tuple[str, str]] = []  # (method, fault kind) of every injected failure
        self._fault_rng = random.Random(faults.seed if faults else 0)
        self._fault_deck: list[str] = []  # the kinds still to deal in this round (see Faults)
        self.seen_tokens: set[str] = set()
        self.last_token = token  # getMe's bot id comes from the token the bot actually uses
        self.calls: list[Call] = []
        self.sent: list[BotMessage] = []
        self.errors: list[str] = []  # internal errors (bugs in the fake), answered with HTTP 500
        self.commands: dict[tuple[str, str], list[JSON]] = {}
        self.webhook_url = ""
        self.left_chats: list[int] = []  # chats the bot left (leaveChat)
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._queue: list[JSON] = []
        self._all_updates: dict[int, JSON] = {}
        self._forced: set[int] = set()
        self._allowed: list[str] | None = None
        self._poll_gen = 0
        self._update_ids = itertools.count(1)
        self._ids = itertools.count(1)  # file ids, callback ids, media groups
        self._msg_ids: dict[int, int] = {}
        self._messages: dict[tuple[int, int], BotMessage] = {}
        self._user_msgs: dict[tuple[int, int], JSON] = {}
        self._users: dict[int, FakeUser] = {}
        self._files: dict[str, tuple[bytes | None, str | None, str | None]] = {}
        self._callbacks: dict[str, int] = {}  # callback id -> user id
        self._answered: set[str] = set()
        self._blocked: set[int] = set()
        self._flood: dict[str, tuple[int, int]] = {}
        self._stamp = 0
        self._server: _Server | None = None
        self._closed = False

    # -- lifecycle
    def start(self) -> FakeBotAPI:
        """Bind 127.0.0.1:<random port> and serve in a daemon thread."""
        self._server = _Server((HOST, 0), _Handler)
        self._server.api = self
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fake-botapi", daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving and wake any long polls."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeBotAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:PORT (bot: base_url=url+'/bot')."""
        assert self._server, "server not started"
        return f"http://{HOST}:{self._server.server_address[1]}"

    # -- fault injection & inspection
    def block_user(self, chat_id: int, blocked: bool = True) -> None:
        """Make sends/edits to this chat fail with 403 (or undo with blocked=False)."""
        with self._lock:
            (self._blocked.add if blocked else self._blocked.discard)(chat_id)

    def flood(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """Answer the next `times` calls of `method` with 429 retry_after."""
        with self._lock:
            self._flood[method.lower()] = (times, retry_after)

    def set_limits(self, limits: TelegramLimits | None) -> None:
        """Start (or, with None, stop) enforcing Telegram's sending limits."""
        with self._lock:
            self._limiter = _Limiter(limits) if limits else None

    def calls_of(self, method: str) -> list[Call]:
        """Received calls of one method (case-insensitive)."""
        with self._lock:
            return [c for c in self.calls if c.method.lower() == method.lower()]

    def messages(self, chat_id: int, include_deleted: bool = False) -> list[BotMessage]:
        """Bot messages in a chat (current state, in send order)."""
        with self._lock:
            return [m for m in self.sent if m.chat_id == chat_id and (include_deleted or not m.deleted)]

    def user(self, user_id: int, first_name: str = "Тест", language_code: str | None = "ru",
             username: str | None = None) -> FakeUser:
        """Get or create a simulated user (private chat id == user id)."""
        with self._lock:
            if user_id not in self._users:
                self._users[user_id] = FakeUser(self, user_id, first_name, language_code, username)
            return self._users[user_id]

    def inject_raw(self, update: JSON) -> int:
        """Queue any raw update (update_id assigned if missing); returns update_id."""
        with self._cond:
            update = dict(update)
            update.setdefault("update_id", next(self._update_ids))
            self._all_updates[update["update_id"]] = update
            self._queue.append(update)
            self._queue.sort(key=lambda u: u["update_id"])
            self._cond.notify_all()
            return update["update_id"]

    def redeliver(self, update_id: int) -> None:
        """Queue an already delivered update again with the same update_id."""
        with self._cond:
            if all(u["update_id"] != update_id for u in self._queue):
                self.inject_raw(self._all_updates[update_id])
            self._forced.add(update_id)

    def pending_updates(self) -> int:
        """Updates not yet confirmed by the bot."""
        with self._lock:
            return len(self._queue)

    def wait_idle(self, timeout: float = 10) -> None:
        """Wait until the bot fetched and confirmed (via offset) every queued update."""
        with self._cond:
            if not self._cond.wait_for(lambda: not self._queue, timeout):
                raise AssertionError(f"{len(self._queue)} updates still pending after {timeout}s: {self._queue}")

    def wait_call(self, method: str, predicate: Callable[[Call], bool] = lambda c: True,
                  timeout: float = 10) -> Call:
        """Wait for a received call of `method` satisfying predicate."""
        with self._cond:
            found: list[Call] = []
            if not self._cond.wait_for(lambda: found.extend(c for c in self.calls_of(method) if predicate(c))
                                       or found, timeout):
                raise AssertionError(f"no matching {method} call in {timeout}s; calls: {self._dump_calls()}")
            return found[0]

    def _dump_calls(self, n: int = 15) -> str:
        return "\n".join(f"  {c.method} -> {c.status} {c.description or ''} {str(c.params)[:200]}"
                         for c in self.calls[-n:])

    # -- HTTP entry
    def handle_http(self, path: str, ctype: str, body: bytes) -> tuple[int, bytes, str]:
        """Answer one HTTP request: (status, body, content type)."""
        split = urllib.parse.urlsplit(path)
        if m := re.fullmatch(r"/file/bot([^/]+)/(.+)", split.path):
            data = next((d for fid, (d, _, _) in self._files.items() if f"files/{fid}" == m[2]), None)
            if data is None:
                return 404, b'{"ok":false,"error_code":404,"description":"Not Found"}', "application/json"
            return 200, data, "application/octet-stream"
        m = re.fullmatch(r"/bot([^/]+)/([A-Za-z]+)/?", split.path)
        call = Call(m[2] if m else split.path, {}, time.time(), m[1] if m else "")
        try:
            if not m:
                raise ApiError(404, "Not Found")
            self.seen_tokens.add(call.token)
            self.last_token = call.token
            try:
                call.params, files = parse_request(ctype, body, split.query)
            except ValueError as e:
                raise bad(f"can't parse request: {e}") from e
            with self._cond:
                self.calls.append(call)
                self._cond.notify_all()
            fault = self._pick_fault(call)
            if fault is not None and fault not in DONE_FIRST:
                return self._fail_undone(call, fault)
            result: Any = self._dispatch(call.method.lower(), call.params, files)
            status, answer = 200, {"ok": True, "result": result}
            if fault is not None:
                return self._fail_done(call, fault, json.dumps(answer, ensure_ascii=False).encode())
        except ApiError as e:
            status, answer = e.code, {"ok": False, "error_code": e.code, "description": e.description}
            if e.parameters:
                answer["parameters"] = e.parameters
            call.description = e.description
        except Exception as e:  # a bug in the fake: make it loud
            self.errors.append(f"{call.method}: {e!r}")
            status, answer = 500, {"ok": False, "error_code": 500, "description": f"Internal Server Error: {e!r}"}
        with self._cond:
            call.status = status
            self._cond.notify_all()
        return status, json.dumps(answer, ensure_ascii=False).encode(), "application/json"

    def _pick_fault(self, call: Call) -> str | None:
        """The fault to inject into this call, if any (see ``Faults``)."""
        f = self.faults
        if f is None or not call.method.lower().startswith(tuple(m.lower() for m in f.methods)):
            return None
        with self._lock:
            if self._fault_rng.random() >= f.rate:
                return None
            if not self._fault_deck:
                self._fault_deck = self._fault_rng.sample(f.kinds, len(f.kinds))
            kind = self._fault_deck.pop()
            self.injected.append((call.method, kind))
            return kind

    def _fail_undone(self, call: Call, fault: str) -> tuple[int, bytes, str]:
        if fault in ("html", "truncated", "endless", "flood"):
            return self._fail_oddly(call, fault)
        code = {"http500": 500, "http502": 502, "timeout": 504}[fault]
        if fault == "timeout":
            time.sleep(self.faults.hold)  # type: ignore[union-attr]
        with self._cond:
            call.status, call.description = code, f"injected {fault}"
            self._cond.notify_all()
        body = {"ok": False, "error_code": code, "description": "Internal Server Error" if code == 500 else
                "Bad Gateway" if code == 502 else "Gateway Timeout"}
        return code, json.dumps(body).encode(), "application/json"

    def _fail_oddly(self, call: Call, fault: str) -> tuple[int, bytes, str]:
        """The faults of a proxy in front of Telegram, and Telegram's flood control (nothing is done)."""
        retry = self.faults.retry_after  # type: ignore[union-attr]
        with self._cond:
            n = sum(1 for _, k in self.injected if k == fault)
            code = {"html": HTML_STATUSES[n % len(HTML_STATUSES)], "truncated": 400, "endless": 200,
                    "flood": 429}[fault]
            call.status, call.description = code, f"injected {fault}"
            self._cond.notify_all()
        match fault:
            case "html":
                return code, HTML_PAGE, "text/html"
            case "truncated":
                body = json.dumps({"ok": False, "error_code": 400, "description": "Bad Request: message to edit "
                                   "not found"}).encode()
                return 400, body[: len(body) // 2], "application/json"
            case "endless":
                return ENDLESS, b"", ""
            case _:
                body = json.dumps({"ok": False, "error_code": 429, "description": f"Too Many Requests: retry "
                                   f"after {retry}", "parameters": {"retry_after": retry}}).encode()
                return 429, body, "application/json"

    def _fail_done(self, call: Call, fault: str, payload: bytes) -> tuple[int, bytes, str]:
        with self._cond:
            call.status, call.description = 200, f"injected {fault} (done)"
            self._cond.notify_all()
        if fault == "slow_delivered":
            time.sleep(self.faults.hold)  # type: ignore[union-attr]
            return 200, payload, "application/json"
        if fault == "lost":
            return DROP_CONNECTION, b"", ""
        return 200, payload[: len(payload) // 2], "application/json"

    def _dispatch(self, method: str, p: JSON, files: Files) -> Any:
        handler = getattr(self, f"_m_{method}", None)
        kind = method[4:] if method.startswith("send") else ""
        if handler is None and kind not in FILE_KINDS:
            raise ApiError(404, "Not Found")
        with self._cond:
            times, retry = self._flood.get(method, (0, 0))
            if times > 0:
                self._flood[method] = (times - 1, retry)
                raise ApiError(429, f"Too Many Requests: retry after {retry}", {"retry_after": retry})
            if self._limiter is not None and (cost := message_cost(method, p)):
                over = self._limiter.check(p["chat_id"], cost, time.monotonic())
                if over is not None:
                    retry = max(1, math.ceil(over[1]))
                    self.limit_hits.append(LimitHit(time.time(), method, p["chat_id"], over[0], retry))
                    raise ApiError(429, f"Too Many Requests: retry after {retry}", {"retry_after": retry})
            if p.get("chat_id") in self._blocked and method.startswith(("send", "edit", "copy", "forward")):
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            if isinstance(p.get("chat_id"), str) and not p["chat_id"].lstrip("-").isdigit():
                raise bad("chat not found")
            result = handler(p, files) if handler else self._send_file(kind, p, files)
            self._cond.notify_all()
            return result

    # -- building blocks (called with the lock held)
    def bot_user(self) -> JSON:
        """The bot as a User object."""
        prefix = self.last_token.split(":")[0]
        return {"id": int(prefix) if prefix.isdigit() else 123456789, "is_bot": True,
                "first_name": "Survey Bot (test)", "username": "surveybot_test_bot"}

    def chat(self, chat_id: int) -> JSON:
        """Chat object for an id: private for users, group/supergroup for negative ids."""
        if chat_id in self._users:
            u = self._users[chat_id].as_dict()
            return {"id": chat_id, "type": "private",
                    **{k: u[k] for k in ("first_name", "username") if k in u}}
        if chat_id < 0:
            return {"id": chat_id, "type": "supergroup" if str(chat_id).startswith("-100") else "group",
                    "title": f"Test group {chat_id}"}
        return {"id": chat_id, "type": "private", "first_name": "User"}

    def _next_mid(self, chat_id: int) -> int:
        self._msg_ids[chat_id] = self._msg_ids.get(chat_id, 0) + 1
        return self._msg_ids[chat_id]

    def _touch(self, msg: BotMessage) -> None:
        self._stamp += 1
        msg.seq = self._stamp

    def register_file(self, kind: str, data: bytes | None, filename: str | None, mime: str | None) -> JSON:
        """Store a file and return its Telegram object (a PhotoSize list for photos)."""
        n = next(self._ids)
        fid = f"{FILE_KINDS[kind]}AgIAAxkBAAI{n:06d}"
        size = len(data) if data is not None else 1024
        self._files[fid] = (data, filename, mime)
        base = {"file_id": fid, "file_unique_id": f"AQAD{n:06d}", "file_size": size}
        if kind == "photo":
            self._files[fid + "m"] = (data, filename, mime)
            return [{**base, "width": 90, "height": 90},
                    {**base, "file_id": fid + "m", "file_unique_id": f"AQAE{n:06d}", "width": 800, "height": 800}]
        obj = {**base, **KIND_EXTRA[kind]}
        if kind in ("document", "audio", "animation") and filename:
            obj["file_name"] = filename
        if mime and kind in ("document", "audio"):
            obj["mime_type"] = mime
        return obj

    def _resolve_file(self, kind: str, value: Any, files: Files, part: str) -> tuple[JSON, bytes | None, str | None]:
        """Turn an uploaded part, attach:// URI, file_id or URL into (object, bytes, filename)."""
        if isinstance(value, str) and value.startswith("attach://"):
            part, value = value[len("attach://"):], None
        if value is None:
            if part not in files:
                raise bad(f"there is no {kind} in the request")
            data, filename, mime = files[part]
            return self.register_file(kind, data, filename, mime), data, filename
        if isinstance(value, str) and value in self._files:
            data, filename, mime = self._files[value]
            return self.register_file(kind, data, filename, mime), data, filename
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            return self.register_file(kind, None, value.rsplit("/", 1)[-1], None), None, None
        raise bad("wrong file identifier/HTTP URL specified")

    def _new_message(self, p: JSON, kind: str, extra: JSON, **fields: Any) -> JSON:
        """Create, store and return a bot message in p['chat_id']."""
        chat_id = p.get("chat_id")
        if not isinstance(chat_id, int):
            raise bad("chat_id is empty" if chat_id is None else "chat not found")
        markup = check_markup(p.get("reply_markup"))
        raw: JSON = {"message_id": self._next_mid(chat_id), "from": self.bot_user(), "chat": self.chat(chat_id),
                     "date": int(time.time()), **extra}
        reply_to = (p.get("reply_parameters") or {}).get("message_id") or p.get("reply_to_message_id")
        if reply_to:
            target = self._messages.get((chat_id, reply_to))
            raw["reply_to_message"] = target.raw if target else self._user_msgs.get((chat_id, reply_to))
            if raw["reply_to_message"] is None:
                raise bad("message to be replied not found")
        if markup and "inline_keyboard" in markup:
            raw["reply_markup"] = markup
        msg = BotMessage(chat_id, raw["message_id"], kind, raw, parse_mode=p.get("parse_mode"),
                         reply_markup=markup, **fields)
        self._touch(msg)
        self.sent.append(msg)
        self._messages[(chat_id, msg.message_id)] = msg
        return copy.deepcopy(raw)

    def _caption(self, p: JSON) -> tuple[JSON, JSON]:
        """Validated caption fields: (raw-extra, BotMessage-fields)."""
        if not p.get("caption"):
            return {}, {}
        if len(p["caption"]) > 1024:
            raise bad("message caption is too long")
        shown = render(p["caption"], p.get("parse_mode"))
        return {"caption": shown}, {"caption": shown, "source": p["caption"]}

    def _text(self, p: JSON) -> str:
        text = p.get("text")
        if not isinstance(text, str) or not text.strip():
            raise bad("message text is empty")
        if _utf16(text) > 4096:
            raise bad("message is too long")
        return render(text, p.get("parse_mode"))

    def _find(self, p: JSON, action: str) -> BotMessage:
        if p.get("inline_message_id"):
            raise bad("inline messages are not supported by the fake")
        msg = self._messages.get((p.get("chat_id"), p.get("message_id")))  # type: ignore[arg-type]
        if msg is None or msg.deleted:
            raise bad(f"message to {action} not found")
        return msg

    def _edit(self, msg: BotMessage, p: JSON, **changes: Any) -> JSON:
        """Apply changes (fields of BotMessage + raw) or fail with 'message is not modified'."""
        markup = check_markup(p.get("reply_markup"))
        new = {**changes, "reply_markup": markup}
        if all(getattr(msg, k) == v for k, v in new.items()) and (
                "source" not in changes or msg.parse_mode == p.get("parse_mode")):
            raise bad(NOT_MODIFIED)
        msg.edits.append({"time": time.time(), **{k: getattr(msg, k) for k in new}})
        for k, v in new.items():
            setattr(msg, k, v)
        if "source" in changes:
            msg.parse_mode = p.get("parse_mode")
        for key in ("text", "caption"):
            if key in changes:
                msg.raw[key] = changes[key]
        msg.raw.pop("reply_markup", None)
        if markup and "inline_keyboard" in markup:
            msg.raw["reply_markup"] = markup
        msg.raw["edit_date"] = int(time.time())
        self._touch(msg)
        return copy.deepcopy(msg.raw)

    # -- methods (names are lower-cased Bot API method names)
    def _m_getme(self, p: JSON, f: Files) -> JSON:
        return {**self.bot_user(), "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False, "can_connect_to_business": False, "has_main_web_app": False}

    def _m_getupdates(self, p: JSON, f: Files) -> list[JSON]:
        if self.webhook_url:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        offset, limit = int(p.get("offset") or 0), max(1, min(100, int(p.get("limit") or 100)))
        if "allowed_updates" in p:
            self._allowed = p["allowed_updates"] or None
        self._poll_gen += 1
        gen, deadline = self._poll_gen, time.monotonic() + min(float(p.get("timeout") or 0), self.poll_cap)
        self._cond.notify_all()
        while True:
            if offset < 0:
                self._queue = self._queue[offset:]
            elif offset:
                self._queue = [u for u in self._queue if u["update_id"] >= offset or u["update_id"] in self._forced]
            if self._allowed:
                self._queue = [u for u in self._queue if any(k in u for k in self._allowed)]
            batch = self._queue[:limit]
            if batch or self._closed or time.monotonic() >= deadline:
                break
            if gen != self._poll_gen:
                raise ApiError(409, "Conflict: terminated by other getUpdates request; "
                                    "make sure that only one bot instance is running")
            self._cond.wait(deadline - time.monotonic())
        self._forced -= {u["update_id"] for u in batch}
        return copy.deepcopy(batch)

    def _m_leavechat(self, p: JSON, f: Files) -> bool:
        self.left_chats.append(int(p["chat_id"]))
        return True

    def _m_deletewebhook(self, p: JSON, f: Files) -> bool:
        if p.get("drop_pending_updates"):
            self._queue.clear()
        self.webhook_url = ""
        return True

    def _m_setwebhook(self, p: JSON, f: Files) -> bool:
        if p.get("drop_pending_updates"):
            self._queue.clear()
        self.webhook_url = str(p.get("url") or "")
        return True

    def _m_getwebhookinfo(self, p: JSON, f: Files) -> JSON:
        return {"url": self.webhook_url, "has_custom_certificate": False, "pending_update_count": len(self._queue)}

    def _m_logout(self, p: JSON, f: Files) -> bool:
        return True

    _m_close = _m_logout

    @staticmethod
    def _cmd_key(p: JSON) -> tuple[str, str]:
        return json.dumps(p.get("scope") or {"type": "default"}, sort_keys=True), p.get("language_code") or ""

    def _m_setmycommands(self, p: JSON, f: Files) -> bool:
        commands = p.get("commands")
        if not isinstance(commands, list):
            raise bad("can't parse commands JSON object")
        for c in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(c.get("command", ""))):
                raise bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(c.get("description", ""))) <= 256:
                raise bad("command description is empty" if not c.get("description") else "BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[self._cmd_key(p)] = commands
        return True

    def _m_deletemycommands(self, p: JSON, f: Files) -> bool:
        self.commands.pop(self._cmd_key(p), None)
        return True

    def _m_getmycommands(self, p: JSON, f: Files) -> list[JSON]:
        return self.commands.get(self._cmd_key(p), [])

    def _m_sendmessage(self, p: JSON, f: Files) -> JSON:
        shown = self._text(p)
        return self._new_message(p, "text", {"text": shown}, text=shown, source=p["text"])

    def _send_file(self, kind: str, p: JSON, files: Files) -> JSON:
        obj, data, filename = self._resolve_file(kind, p.get(kind), files, kind)
        extra, fields = self._caption(p)
        return self._new_message(p, kind, {kind: obj, **extra}, file=data, filename=filename, **fields)

    def _m_sendmediagroup(self, p: JSON, files: Files) -> list[JSON]:
        media = p.get("media")
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            raise bad("wrong number of media in the media group" if isinstance(media, list) else "media is empty")
        group_id, out = str(10**17 + next(self._ids)), []
        for item in media:
            kind = item.get("type")
            if kind not in ("photo", "document", "audio", "video"):
                raise bad(f"unsupported media type {kind!r} in the media group")
            obj, data, filename = self._resolve_file(kind, item.get("media"), files, kind)
            extra, fields = self._caption({**item, "parse_mode": item.get("parse_mode")})
            raw = self._new_message({**p, "reply_markup": None}, kind,
                                    {kind: obj, "media_group_id": group_id, **extra},
                                    file=data, filename=filename, media_group_id=group_id, **fields)
            out.append(raw)
        return out

    def _m_editmessagetext(self, p: JSON, f: Files) -> JSON:
        msg = self._find(p, "edit")
        if msg.kind != "text":
            raise bad("there is no text in the message to edit")
        shown = self._text(p)
        return self._edit(msg, p, text=shown, source=p["text"])

    def _m_editmessagecaption(self, p: JSON, f: Files) -> JSON:
        msg = self._find(p, "edit")
        if msg.kind == "text":
            raise bad("there is no caption in the message to edit")
        extra, fields = self._caption(p)
        return self._edit(msg, p, caption=fields.get("caption"), source=fields.get("source"))

    def _m_editmessagereplymarkup(self, p: JSON, f: Files) -> JSON:
        return self._edit(self._find(p, "edit"), p)

    def _m_deletemessage(self, p: JSON, f: Files) -> bool:
        msg = self._find(p, "delete")
        msg.deleted = True
        self._touch(msg)
        return True

    def _m_answercallbackquery(self, p: JSON, f: Files) -> bool:
        qid = p.get("callback_query_id")
        if qid not in self._callbacks or qid in self._answered:
            raise bad("query is too old and response timeout expired or query ID is invalid")
        if len(p.get("text") or "") > 200:
            raise bad("MESSAGE_TOO_LONG")
        self._answered.add(qid)
        return True

    def _m_sendchataction(self, p: JSON, f: Files) -> bool:
        if not p.get("action"):
            raise bad("wrong parameter action in request")
        return True

    def _m_getfile(self, p: JSON, f: Files) -> JSON:
        fid = p.get("file_id")
        if fid not in self._files:
            raise bad("invalid file_id")
        data = self._files[fid][0]
        return {"file_id": fid, "file_unique_id": f"U{fid[-8:]}", "file_size": len(data or b""),
                "file_path": f"files/{fid}"}

    def _m_getchat(self, p: JSON, f: Files) -> JSON:
        return {**self.chat(p["chat_id"]), "accent_color_id": 0, "max_reaction_count": 11}

    def _m_setmydescription(self, p: JSON, f: Files) -> bool:
        return True

    _m_setmyshortdescription = _m_setmyname = _m_setchatmenubutton = _m_setmydescription


# ----------------------------------------------------------------------------- simulated user
class FakeUser:
    """A Telegram user talking to the bot in a private chat (chat id == user id)."""

    def __init__(self, api: FakeBotAPI, user_id: int, first_name: str, language_code: str | None,
                 username: str | None) -> None:
        self.api, self.id, self.first_name = api, user_id, first_name
        self.language_code, self.username = language_code, username
        self.callback_ids: list[str] = []
        self.mark = 0  # api change stamp at this user's last action (see wait_for(fresh=True))

    def as_dict(self) -> JSON:
        """This user as a Telegram User object."""
        d: JSON = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.username:
            d["username"] = self.username
        if self.language_code:
            d["language_code"] = self.language_code
        return d

    # -- acting
    def _message(self, content: JSON, chat_id: int | None = None, reply_to: int | None = None) -> int:
        """Queue a message update from this user; returns update_id."""
        api, chat_id = self.api, self.id if chat_id is None else chat_id
        with api._lock:
            self.mark = api._stamp
            msg: JSON = {"message_id": api._next_mid(chat_id), "from": self.as_dict(), "chat": api.chat(chat_id),
                         "date": int(time.time()), **content}
            if reply_to is not None:
                target = api._messages.get((chat_id, reply_to))
                msg["reply_to_message"] = target.raw if target else api._user_msgs[(chat_id, reply_to)]
            api._user_msgs[(chat_id, msg["message_id"])] = msg
            return api.inject_raw({"message": copy.deepcopy(msg)})

    @staticmethod
    def _text_content(text: str) -> JSON:
        content: JSON = {"text": text}
        if text.startswith("/"):
            command = text.split()[0]
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": _utf16(command)}]
        return content

    def send(self, text: str, reply_to: int | None = None) -> int:
        """Send a text message (bot_command entity for a leading /command)."""
        return self._message(self._text_content(text), reply_to=reply_to)

    def send_content(self, content: JSON) -> int:
        """Send a message with arbitrary content fields (contact, location, poll...)."""
        return self._message(content)

    def _file(self, kind: str, data: bytes, filename: str | None, mime: str | None) -> JSON:
        with self.api._lock:
            return self.api.register_file(kind, data, filename, mime)

    def send_sticker(self, emoji: str = "👍") -> int:
        """Send a regular sticker."""
        return self._message({"sticker": {**self._file("sticker", b"RIFF\x00WEBP", "sticker.webp", "image/webp"),
                                          "emoji": emoji}})

    def send_photo(self, caption: str | None = None, data: bytes = b"\xff\xd8\xff\xe0fake-jpeg") -> int:
        """Send a photo (two PhotoSizes)."""
        content: JSON = {"photo": self._file("photo", data, "photo.jpg", "image/jpeg")}
        return self._message({**content, "caption": caption} if caption else content)

    def send_voice(self, duration: int = 3) -> int:
        """Send a voice note."""
        return self._message({"voice": {**self._file("voice", b"OggS\x00fake", None, "audio/ogg"),
                                        "duration": duration}})

    def send_document(self, data: bytes = b"%PDF-1.4 fake", file_name: str = "file.pdf",
                      mime_type: str = "application/pdf", caption: str | None = None) -> int:
        """Send a document."""
        content: JSON = {"document": self._file("document", data, file_name, mime_type)}
        return self._message({**content, "caption": caption} if caption else content)

    def group_message(self, chat_id: int, text: str) -> int:
        """Send a text message from this user in a group chat (chat_id < 0)."""
        assert chat_id < 0, "group chat ids are negative"
        return self._message(self._text_content(text), chat_id=chat_id)

    def edit(self, message_id: int, new_text: str) -> int:
        """Edit one of this user's text messages (edited_message update)."""
        with self.api._lock:
            msg = self.api._user_msgs[(self.id, message_id)]
            msg.update(self._text_content(new_text), edit_date=int(time.time()))
            self.mark = self.api._stamp
            return self.api.inject_raw({"edited_message": copy.deepcopy(msg)})

    def press(self, message_id: int, callback_data: str) -> int:
        """Press an inline button with callback_data on a bot message (callback_query update)."""
        api = self.api
        with api._lock:
            msg = api._messages.get((self.id, message_id))
            if msg is None:
                raise AssertionError(f"no bot message #{message_id} in chat {self.id}")
            qid = str(4_000_000_000_000_000_000 + next(api._ids))
            api._callbacks[qid] = self.id
            self.callback_ids.append(qid)
            self.mark = api._stamp
            return api.inject_raw({"callback_query": {
                "id": qid, "from": self.as_dict(), "message": copy.deepcopy(msg.raw),
                "chat_instance": str(-(10**18) - self.id), "data": callback_data}})

    def press_button(self, text_or_predicate: str | Callable[[str], bool],
                     message: BotMessage | int | None = None) -> int:
        """Press a button (by exact text, else unique substring, or predicate on its text)."""
        with self.api._lock:
            if isinstance(message, int):
                message = self.api._messages[(self.id, message)]
            message = message or next((m for m in reversed(self.messages()) if m.keyboard), None)
            if message is None:
                raise AssertionError(f"no inline keyboard in chat {self.id}:\n{self._dump()}")
            buttons = [b for row in message.keyboard for b in row]
            if callable(text_or_predicate):
                hits = [b for b in buttons if text_or_predicate(b[0])]
            else:
                hits = [b for b in buttons if b[0] == text_or_predicate] or \
                       [b for b in buttons if text_or_predicate in b[0]]
            if len(hits) != 1 or hits[0][1] is None:
                raise AssertionError(f"{len(hits)} matching callback buttons for {text_or_predicate!r} "
                                     f"in {message}")
            return self.press(message.message_id, hits[0][1])  # type: ignore[arg-type]

    # -- observing
    def messages(self) -> list[BotMessage]:
        """Bot messages in this chat, current state, in order (deleted ones excluded)."""
        return self.api.messages(self.id)

    def last_message(self) -> BotMessage | None:
        """The latest bot message in this chat."""
        msgs = self.messages()
        return msgs[-1] if msgs else None

    def last_keyboard(self) -> list[list[tuple[str, str | None]]]:
        """Rows of (text, callback_data) of the latest bot message with an inline keyboard."""
        return next((m.keyboard for m in reversed(self.messages()) if m.keyboard), [])

    def _dump(self) -> str:
        msgs = "\n".join(f"  {m}" for m in self.api.messages(self.id, include_deleted=True)) or "  (none)"
        return f"bot messages in chat {self.id}:\n{msgs}\nrecent calls:\n{self.api._dump_calls()}"

    def wait_for(self, predicate: Callable[[BotMessage], bool], timeout: float = 10,
                 fresh: bool = False, what: str = "predicate") -> BotMessage:
        """Wait until a bot message here satisfies predicate (fresh: created/edited after my last action)."""
        api, found = self.api, []
        with api._cond:
            mark = self.mark if fresh else -1
            ok = api._cond.wait_for(lambda: found.extend(
                m for m in self.messages() if m.seq > mark and predicate(m)) or found, timeout)
            if not ok:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{self._dump()}")
            return found[-1]

    def wait_for_text(self, substring: str, timeout: float = 10, fresh: bool = False) -> BotMessage:
        """Wait for a bot message whose text/caption contains substring."""
        return self.wait_for(lambda m: substring in m.content, timeout, fresh, what=f"text {substring!r}")

    async def await_for(self, predicate: Callable[[BotMessage], bool], timeout: float = 10,
                        fresh: bool = False) -> BotMessage:
        """wait_for for asyncio tests (runs in a worker thread)."""
        return await asyncio.to_thread(self.wait_for, predicate, timeout, fresh)

    async def await_text(self, substring: str, timeout: float = 10, fresh: bool = False) -> BotMessage:
        """wait_for_text for asyncio tests (runs in a worker thread)."""
        return await asyncio.to_thread(self.wait_for_text, substring, timeout, fresh)

    def callback_answers(self) -> list[JSON]:
        """Successful answerCallbackQuery params for this user's presses."""
        return [c.params for c in self.api.calls_of("answerCallbackQuery")
                if c.status == 200 and c.params.get("callback_query_id") in self.callback_ids]

    def wait_callback_answer(self, timeout: float = 10, callback_id: str | None = None) -> JSON:
        """Wait for the answer to a press (default: the latest one)."""
        qid = callback_id or (self.callback_ids[-1] if self.callback_ids else None)
        call = self.api.wait_call("answerCallbackQuery", lambda c: c.status == 200 and
                                  c.params.get("callback_query_id") == qid, timeout)
        return call.params


if __name__ == "__main__":
    with FakeBotAPI() as server:
        print(f"Fake Bot API on {server.url} (token {server.token}); Ctrl-C to stop", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
