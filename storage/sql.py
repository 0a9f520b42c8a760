"""The little dialect-specific SQL the analytics need, kept inside storage/."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func


def duration_seconds(dialect: str, start: Any, end: Any) -> Any | None:
    """A SQL expression for ``end - start`` in seconds (None where no portable form is known)."""
    if dialect == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 86400.0
    if dialect == "postgresql":
        return func.extract("epoch", end - start)
    return None
