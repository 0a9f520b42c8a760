"""/my_data of a respondent with long answers arrives whole, in several messages, ending with the /forget_me hint."""

from __future__ import annotations

import html
import re

import pytest

from analytics.messages import split_messages, utf16_len
from bot.respondent.privacy import FORGET_HINT
from bot.settings import Settings
from survey.i18n import translator
from tests.conftest import TEST_TOKEN
from tests.fake_botapi import ApiError, render as telegram_render
from tests.harness import running_app
from tests.recording import SimUser

RU = translator("ru").gettext  # the bot's texts as a respondent whose Telegram is in Russian reads them

LONG_SURVEY = """
survey: {id: long_texts, version: 1, title: Длинные ответы, intro_text: Три вопроса., thanks_text: Спасибо!}
questions:
- {id: l_one, type: text, text: Расскажите подробно, max_length: 4000}
- {id: l_two, type: text, text: И ещё подробнее, max_length: 4000}
- {id: l_pick, type: single_choice, text: Выберите, other_allowed: true, options: [{id: a, text: Первый}]}
- {id: l_three, type: text, text: И напоследок, max_length: 4000}
"""


def long_answer(seed: str, length: int = 4000) -> str:
    """A 4,000-character answer with markup characters, Cyrillic, emoji (two UTF-16 units) and few spaces."""
    unit = f"{seed}<b>&amp;</b> слово😀 x&y "
    return (unit * (length // len(unit) + 1))[:length].strip()


def shown_text(source: str) -> str:
    """What Telegram shows for an HTML message; raises like Telegram on markup it would refuse."""
    try:
        return telegram_render(source, "HTML")
    except ApiError as exc:  # pragma: no cover - the assertion message is the point
        raise AssertionError(f"Telegram would refuse this message: {exc.description}") from exc


@pytest.fixture
async def long_bot(db_url, tmp_path):
    path = tmp_path / "long.yaml"
    path.write_text(LONG_SURVEY, encoding="utf-8")
    settings = Settings(_env_file=None, bot_token=TEST_TOKEN, database_url=db_url, survey_file=path,
                        flood_messages=10_000)
    async with running_app(settings) as (app, request):
        yield app, request


async def test_my_data_with_4000_character_answers_arrives_whole(long_bot):
    app, request = long_bot
    u = SimUser(app, request, 7001)
    answers = [long_answer("один"), long_answer("два"), long_answer("три")]
    await u.begin()
    await u.send(answers[0])
    await u.send(answers[1])
    await u.press("Другое")
    await u.send("свой <вариант> & ещё")
    await u.send(answers[2])
    assert "Спасибо" in u.last().text
    before = len(u.messages())

    await u.send("/my_data")
    parts = u.messages()[before:]
    assert len(parts) >= 3, [p.text[:80] for p in parts]
    for part in parts:
        assert utf16_len(part.text) <= 4096 and part.payload.get("parse_mode") == "HTML"
    shown = [shown_text(p.text) for p in parts]
    whole = "".join(shown).replace("\n", "")
    for answer in answers:
        assert answer in whole  # every character, in order, nothing cut
    assert "свой <вариант> & ещё" in whole
    assert shown[-1].rstrip().endswith(html.unescape(RU(FORGET_HINT)))
    assert sum(s.count("/forget_me") for s in shown) == 1


def test_split_keeps_every_character_and_never_cuts_an_entity():
    line = "я&lt;" * 1500 + " " + "😀" * 3000 + "&amp;" * 900
    lines = ["<b>Заголовок</b>", "", line, "короткая", "", "последняя"]
    parts = split_messages(lines, limit=1000)
    assert all(utf16_len(p) <= 1000 for p in parts)
    assert "".join(parts).replace("\n", "") == "".join(lines)
    for p in parts:
        assert not re.search(r"&[a-z]*$", p) and not re.match(r"^[a-z]*;", p)
        shown_text(p)
    assert parts[-1].endswith("последняя")
    assert split_messages(["коротко", "и ясно"]) == ["коротко\nи ясно"]
