"""Long HTML text as several Telegram messages, each under the 4096-character limit, cut at line ends.

Telegram counts the limit in UTF-16 code units of the text after its markup is parsed; the source is
measured here (it is never shorter), with a margin. Lines are kept whole where they fit; a line longer
than one message is cut at a space where possible and never inside an HTML entity such as ``&lt;``.
Such long lines must be escaped text without tags (a tag cut in two would not parse).
"""

from __future__ import annotations

import re

MESSAGE_LIMIT = 4000  # Telegram's limit is 4096; the margin covers a counting slip
_ENTITY = re.compile(r"&[#a-zA-Z0-9]{1,10};")


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


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
