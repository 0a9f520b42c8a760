"""Summaries, charts and exports; ``analytics.load_responses(database_url)`` gives a notebook the responses."""

from __future__ import annotations

from typing import Any

__all__ = ["load_responses"]


def __getattr__(name: str) -> Any:
    # Lazy: importing analytics.* must not load pandas-heavy modules the caller does not use.
    if name == "load_responses":
        from analytics.dataset import load_responses

        return load_responses
    raise AttributeError(name)
