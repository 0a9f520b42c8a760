"""Short forms of texts for titles, labels and previews."""

from __future__ import annotations

ELLIPSIS = "…"


def clip(text: str, limit: int) -> str:
    """``text`` if it has at most ``limit`` characters, else its start (trailing spaces dropped) and "…",
    ``limit`` characters at most in all."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + ELLIPSIS
