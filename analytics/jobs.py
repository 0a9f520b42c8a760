"""Admin work that must not freeze the bot: exports and charts run in a worker thread."""

from __future__ import annotations

import asyncio
import io
from datetime import datetime, timezone

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import definitions
from analytics.filters import Filter
from storage.db import create_engine, read_only
from storage.models import COMPLETED, Response
from survey.model import Survey

FORMATS = ("csv", "xlsx")


def export_filename(survey: Survey, fmt: str, completed_only: bool) -> str:
    """A file name like manao_accounting_digital_2026-11-27_completed.xlsx."""
    day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    return f"{survey.id}_{day}{'_completed' if completed_only else ''}.{fmt}"


def _export_blocking(
    db_url: str, survey: Survey, fmt: str, completed_only: bool, where: Filter | None = None, banner: str | None = None
) -> bytes:
    from analytics.export import export_csv, export_xlsx

    async def go() -> bytes:
        # A private engine in this thread's own event loop: the bot's loop keeps serving respondents.
        engine = create_engine(db_url)
        try:
            out = io.BytesIO()
            # Answers to questions an edit removed stay in the file, in columns after the current ones.
            full = await definitions.with_removed(read_only(engine), survey)
            if fmt == "csv":
                await export_csv(read_only(engine), full, out, completed_only=completed_only, where=where)
            else:
                await export_xlsx(read_only(engine), full, out, completed_only=completed_only, where=where, banner=banner)
            return out.getvalue()
        finally:
            await engine.dispose()

    return asyncio.run(go())


async def export_bytes(
    db_url: str,
    survey: Survey,
    fmt: str,
    *,
    completed_only: bool = False,
    where: Filter | None = None,
    banner: str | None = None,
) -> bytes:
    """The export file's bytes, built in a worker thread (``where``: a respondent filter; ``banner``: XLSX cross-tabs)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    return await asyncio.to_thread(_export_blocking, db_url, survey, fmt, completed_only, where, banner)


async def completed_count(engine: AsyncEngine, survey: Survey) -> int:
    """How many responses to the survey are completed."""
    async with read_only(engine).connect() as conn:
        stmt = select(func.count()).select_from(Response).where(
            Response.survey_id == survey.id, Response.status == COMPLETED
        )
        return int((await conn.execute(stmt)).scalar_one())
