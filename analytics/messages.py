"""Long HTML text as several Telegram messages, each under the 4096-character limit, cut at line ends.

Telegram counts the limit in UTF-16 code units of the text after its markup is parsed; the source is
measured here (it is never shorter), with a margin. Lines are kept whole where they fit; a line longer
than one message is cut at a space where possible and never inside an HTML entity such as ``&lt;``.
Such long lines must be escaped text without tags (a tag cut in two would not parse).

``split_messages`` joins lines; ``pack_blocks`` joins blocks of lines (a summary's header, each question)
and keeps a block in one message, a blank line between blocks, wherever it fits. The one splitter of the
chat texts (summaries, cross-tabs, comparisons, a respondent's /my_data).
"""

from __future__ import annotations

import re

MESSAGE_LIMIT = 4000  # Telegram's limit is 4096; the margin covers a counting slip
_ENTITY = re.compile(r"&[#a-zA-Z0-9]{1,10};")


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def fits(text: str, limit: int = MESSAGE_LIMIT) -> bool:
    """Whether ``text`` goes in one message."""
    return utf16_len(text) <= limit


def split_messages(lines: list[str], limit: int = MESSAGE_LIMIT) -> list[str]:
    """Join lines with newlines into as few messages as fit ``limit``; the order and every character are kept."""
    messages: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        for piece in _cut_line(line, limit):
            extra = utf16_len(piece) + (1 if current else 0)
            if current and size + extra > limit:
                messages.append("\n".join(current))
                current, size = [], 0
                extra = utf16_len(piece)
            current.append(piece)
            size += extra
    if current:
        messages.append("\n".join(current))
    # A message of blank lines only cannot be sent (Telegram refuses empty text).
    return [m for m in messages if m.strip()]


def pack_blocks(blocks: list[list[str]], limit: int = MESSAGE_LIMIT) -> list[str]:
    """Join blocks of lines into messages of at most ``limit`` units, a blank line between two blocks.

    A block is kept whole when it fits in the message being filled, else it starts the next one; a block
    larger than a message is split between its lines (``split_messages``). Every character is kept.
    """
    messages: list[str] = []
    current, size = "", 0
    for block in blocks:
        text = "\n".join(block)
        units = utf16_len(text)
        if current and size + 2 + units <= limit:
            current, size = f"{current}\n\n{text}", size + 2 + units
            continue
        if current:
            messages.append(current)
        if units <= limit:
            current, size = text, units
            continue
        *full, last = split_messages(block, limit) or [""]
        messages += full
        current, size = last, utf16_len(last)
    if current:
        messages.append(current)
    return [m for m in messages if m.strip()]


def _cut_line(line: str, limit: int) -> list[str]:
    """A line as pieces of at most ``limit`` units, cut at a space if there is one in the last fifth."""
    pieces: list[str] = []
    while utf16_len(line) > limit:
        end = _fit(line, limit)
        space = line.rfind(" ", end * 4 // 5, end)
        if space > 0:
            end = space + 1
        pieces.append(line[:end])
        line = line[end:]
    pieces.append(line)
    return pieces


def _fit(line: str, limit: int) -> int:
    """The longest prefix length within ``limit`` units that does not end inside an entity."""
    end, units = 0, 0
    for ch in line:
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > limit:
            break
        end += 1
    for m in _ENTITY.finditer(line, max(0, end - 12), min(len(line), end + 12)):
        if m.start() < end < m.end():
            return m.start()
    return end
