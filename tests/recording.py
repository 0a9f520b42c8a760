"""In-process Telegram double: a PTB request object that answers Bot API calls at once and
remembers what the bot showed, plus simulated users that feed updates to ``process_update``.

Used by the fast flow tests and by the benchmarks; the end-to-end tests use a real HTTP
server (tests/fake_botapi.py) instead.
"""

from __future__ import annotations

import itertools
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from telegram import Update
from telegram.ext import Application
from telegram.request import BaseRequest, RequestData

BOT_USER = {"id": 777000111, "is_bot": True, "first_name": "Survey", "username": "surveybot_test_bot",
            "can_join_groups": False, "can_read_all_group_messages": False, "supports_inline_queries": False}


@dataclass
class Shown:
    """A bot message as the user currently sees it."""

    chat_id: int
    message_id: int
    text: str
    keyboard: list[list[dict]] | None = None
    kind: str = "text"
    payload: dict = field(default_factory=dict)

    def buttons(self) -> list[dict]:
        """All inline buttons, row by row."""
        return [b for row in (self.keyboard or []) for b in row]

    def button(self, predicate: Any) -> dict:
        """The first button whose text equals/contains the string (or matches the predicate)."""
        for b in self.buttons():
            if (callable(predicate) and predicate(b)) or (isinstance(predicate, str) and (b["text"] == predicate or predicate in b["text"])):
                return b
        raise AssertionError(f"no button {predicate!r} in {[b['text'] for b in self.buttons()]}")


class RecordingRequest(BaseRequest):
    """Answers every Bot API method instantly and records the calls (optionally not at all)."""

    def __init__(self, record: bool = True):
        self.record = record
        self.calls: list[tuple[str, dict]] = []
        self.messages: dict[int, dict[int, Shown]] = defaultdict(dict)
        self.callback_answers: dict[str, dict] = {}
        self._ids: dict[int, itertools.count] = defaultdict(lambda: itertools.count(1))
        self.fail_chats: dict[int, tuple[int, str]] = {}  # chat_id -> (HTTP code, description)

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    @property
    def read_timeout(self) -> float:
        return 5.0

    def _message(self, chat_id: int, message_id: int, params: dict, kind: str = "text") -> dict:
        text = params.get("text") or params.get("caption") or ""
        markup = params.get("reply_markup")
        if isinstance(markup, str):
            markup = json.loads(markup)
        keyboard = markup.get("inline_keyboard") if isinstance(markup, dict) else None
        if self.record:
            self.messages[chat_id][message_id] = Shown(chat_id, message_id, text, keyboard, kind, params)
        msg = {"message_id": message_id, "date": int(time.time()), "chat": {"id": chat_id, "type": "private"},
               "from": BOT_USER, "text": text}
        if keyboard is not None:
            msg["reply_markup"] = {"inline_keyboard": keyboard}
        return msg

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None, **_: Any) -> tuple[int, bytes]:
        """Answer one Bot API call."""
        endpoint = url.rsplit("/", 1)[-1]
        params = dict(request_data.parameters) if request_data else {}
        if request_data and request_data.contains_files:
            # Uploaded files as (file name, bytes), by their multipart field name.
            params["_files"] = {k: (v[0], v[1]) for k, v in request_data.multipart_data.items()}
        if self.record:
            self.calls.append((endpoint, params))
        chat_id = params.get("chat_id")
        if chat_id is not None and int(chat_id) in self.fail_chats:
            code, description = self.fail_chats[int(chat_id)]
            return code, json.dumps({"ok": False, "error_code": code, "description": description}).encode()
        result: Any = True
        if endpoint == "getMe":
            result = BOT_USER
        elif endpoint in ("sendMessage", "sendPhoto", "sendDocument", "sendSticker"):
            cid = int(chat_id)
            kind = {"sendPhoto": "photo", "sendDocument": "document"}.get(endpoint, "text")
            result = self._message(cid, next(self._ids[cid]), params, kind)
        elif endpoint == "sendMediaGroup":
            cid = int(chat_id)
            result = [self._message(cid, next(self._ids[cid]), {"caption": m.get("caption", "")}, "photo") for m in params.get("media", [])]
        elif endpoint in ("editMessageText", "editMessageReplyMarkup"):
            cid, mid = int(chat_id), int(params["message_id"])
            old = self.messages[cid].get(mid)
            merged = {"text": old.text if old else ""} | params
            if endpoint == "editMessageReplyMarkup" and "reply_markup" not in params:
                merged["reply_markup"] = None
            result = self._message(cid, mid, merged)
        elif endpoint == "answerCallbackQuery":
            self.callback_answers[params["callback_query_id"]] = params
        elif endpoint == "getUpdates":
            result = []
        return 200, json.dumps({"ok": True, "result": result}).encode()


class SimUser:
    """A simulated private-chat user that sends updates straight into ``Application.process_update``."""

    _update_ids = itertools.count(1)
    _query_ids = itertools.count(1)

    def __init__(self, app: Application, request: RecordingRequest, user_id: int, first_name: str = "Тест"):
        self.app, self.request, self.id = app, request, user_id
        self.user = {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": "ru"}
        self.chat = {"id": user_id, "type": "private", "first_name": first_name}
        self._msg_ids = itertools.count(10_000)
        self.last_update: dict | None = None

    async def feed(self, raw: dict) -> int:
        """Process one raw update through the application's update processor, as in production; returns its
        update_id."""
        raw.setdefault("update_id", next(self._update_ids))
        self.last_update = raw
        update = Update.de_json(raw, self.app.bot)
        await self.app.update_processor.process_update(update, self.app.process_update(update))
        return raw["update_id"]

    def _message(self, **extra: Any) -> dict:
        return {"message_id": next(self._msg_ids), "date": int(time.time()), "chat": self.chat, "from": self.user} | extra

    async def send(self, text: str) -> int:
        """Type a message (a leading /command gets its entity)."""
        msg = self._message(text=text)
        if text.startswith("/"):
            msg["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return await self.feed({"message": msg})

    async def sticker(self) -> int:
        """Send a sticker."""
        return await self.feed({"message": self._message(sticker={"file_id": "stk", "file_unique_id": "stku", "width": 512,
                                                               "height": 512, "is_animated": False, "is_video": False, "type": "regular"})})

    async def photo(self) -> int:
        """Send a photo."""
        return await self.feed({"message": self._message(photo=[{"file_id": "ph", "file_unique_id": "phu", "width": 90, "height": 90}])})

    async def voice(self) -> int:
        """Send a voice note."""
        return await self.feed({"message": self._message(voice={"file_id": "v", "file_unique_id": "vu", "duration": 2})})

    async def document(self) -> int:
        """Send a file."""
        return await self.feed({"message": self._message(document={"file_id": "d", "file_unique_id": "du", "file_name": "a.pdf"})})

    async def edit(self, message_id: int, text: str) -> int:
        """Edit one of the user's own messages."""
        msg = self._message(text=text, edit_date=int(time.time()))
        msg["message_id"] = message_id
        return await self.feed({"edited_message": msg})

    async def press_data(self, message_id: int, data: str) -> int:
        """Tap a button with the given callback data on a bot message."""
        shown = self.request.messages[self.id].get(message_id)
        message = {"message_id": message_id, "date": int(time.time()), "chat": self.chat, "from": BOT_USER,
                   "text": shown.text if shown else ""}
        query = {"id": f"q{next(self._query_ids)}", "from": self.user, "chat_instance": str(self.id),
                 "message": message, "data": data}
        return await self.feed({"callback_query": query})

    async def press(self, label: Any, message: Shown | None = None) -> int:
        """Tap a button by its label (or predicate) on the newest message with a keyboard."""
        message = message or self.keyboard_message()
        return await self.press_data(message.message_id, message.button(label)["callback_data"])

    async def begin(self) -> None:
        """Open the bot and press «Начать», as every respondent does first."""
        await self.send("/start")
        await self.press("Начать")

    async def answer_current(self, number: str = "42") -> None:
        """Answer whatever question is on screen with its first valid choice (or a number)."""
        message = self.keyboard_message()
        data = [b["callback_data"] for b in message.buttons()]
        toggles = [d for d in data if ":t:" in d]
        if toggles:
            await self.press_data(message.message_id, toggles[0])
            await self.press("Готово")
        elif any(":o:" in d for d in data):
            await self.press_data(message.message_id, next(d for d in data if ":o:" in d))
        else:
            await self.send(number)

    def messages(self) -> list[Shown]:
        """Bot messages in this chat, oldest first, as currently shown."""
        return [self.request.messages[self.id][k] for k in sorted(self.request.messages[self.id])]

    def last(self) -> Shown:
        """The newest bot message."""
        return self.messages()[-1]

    def keyboard_message(self) -> Shown:
        """The newest bot message that still has an inline keyboard."""
        for m in reversed(self.messages()):
            if m.keyboard:
                return m
        raise AssertionError("no message with a keyboard: " + " | ".join(m.text[:60] for m in self.messages()))

    def last_toast(self) -> str | None:
        """The text of the answer to this user's newest button tap."""
        if not self.last_update or "callback_query" not in self.last_update:
            return None
        answer = self.request.callback_answers.get(self.last_update["callback_query"]["id"])
        return answer.get("text") if answer else None
