"""Admin work that must not freeze the bot: exports and charts run in a worker thread."""

from __future__ import annotations

import asyncio
import csv
import ctypes
import io
import sys
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, assert_never

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.codebook import DEFAULT_TIMEZONE, codebook_rows
from analytics.filters import Filter
from analytics.quality import QualityRules
from storage import definitions
from storage.db import create_engine, read_only
from storage.models import COMPLETED, Response
from survey.model import Survey

if TYPE_CHECKING:  # the export module (and what it imports) loads when an export runs
    from analytics.export import Progress


class ExportFormat(StrEnum):
    """The file formats of the raw-data export (the value is the file's extension)."""

    CSV = "csv"
    XLSX = "xlsx"
    SAV = "sav"


FORMATS = tuple(ExportFormat)  # what /export and `surveybot export --format` accept


def export_format(fmt: str) -> ExportFormat:
    """The format named ``fmt``; ValueError for a name that is none of them."""
    try:
        return ExportFormat(fmt)
    except ValueError:
        raise ValueError(f"unknown export format {fmt!r}") from None


def export_filename(survey: Survey, fmt: str, completed_only: bool) -> str:
    """A file name like manao_accounting_digital_2026-11-27_completed.xlsx."""
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    return f"{survey.id}_{day}{'_completed' if completed_only else ''}.{export_format(fmt).value}"


def _export_blocking(
    db_url: str, survey: Survey, fmt: ExportFormat, completed_only: bool, where: Filter | None = None, banner: str | None = None,
    delimiter: str = ",", tz_name: str = DEFAULT_TIMEZONE, progress: Progress | None = None,
    quality_rules: QualityRules | None = None,
) -> bytes:
    from analytics.export import collect_rows, export_csv, export_xlsx

    async def go() -> bytes:
        # A private engine in this thread's own event loop: the bot's loop keeps serving respondents.
        engine = create_engine(db_url)
        try:
            out = io.BytesIO()
            # Answers to questions an edit removed stay in the file, in columns after the current ones.
            full = await definitions.with_removed(read_only(engine), survey)
            match fmt:
                case ExportFormat.CSV:
                    await export_csv(read_only(engine), full, out, completed_only=completed_only, where=where,
                                     delimiter=delimiter, tz_name=tz_name, progress=progress, quality_rules=quality_rules)
                case ExportFormat.XLSX:
                    await export_xlsx(read_only(engine), full, out, completed_only=completed_only, where=where,
                                      banner=banner, tz_name=tz_name, progress=progress, quality_rules=quality_rules)
                case ExportFormat.SAV:
                    from analytics.dataset import sav_bytes, typed_frame

                    columns, rows = await collect_rows(read_only(engine), full, completed_only=completed_only,
                                                       where=where, tz_name=tz_name, progress=progress, quality_rules=quality_rules)
                    return sav_bytes(full, typed_frame(full, columns, rows, tz_name), tz_name)
                case _ as unreachable:
                    assert_never(unreachable)
            return out.getvalue()
        finally:
            await engine.dispose()

    try:
        return asyncio.run(go())
    finally:
        release_freed_memory()


def release_freed_memory() -> bool:
    """Give the C heap's free memory back to the system after a large job (glibc ``malloc_trim(0)``).

    An export allocates in proportion to the database and frees it all when done, but glibc keeps freed heap
    pages (in the worker thread's own arena too) mapped, so without this the bot's RSS took the high-water
    mark of the largest export so far and rose with the database (issue 24's soak). Python objects still
    alive are not touched: this only unmaps pages nothing uses. Linux with glibc only; elsewhere (macOS,
    musl, Windows) a no-op. Returns whether the trim ran.
    """
    if sys.platform != "linux":
        return False
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return False
    trim(0)
    return True


async def export_bytes(
    db_url: str,
    survey: Survey,
    fmt: str,
    *,
    completed_only: bool = False,
    where: Filter | None = None,
    banner: str | None = None,
    delimiter: str = ",",
    tz_name: str = DEFAULT_TIMEZONE,
    quality_rules: QualityRules | None = None,
    progress: Progress | None = None,
) -> bytes:
    """The export file's bytes, built in a worker thread (``where``: a respondent filter; ``banner``: XLSX cross-tabs;
    ``delimiter``: CSV only; ``tz_name``: the zone of the times; ``progress``: hears (rows done, rows in all), from
    that worker thread)."""
    return await asyncio.to_thread(_export_blocking, db_url, survey, export_format(fmt), completed_only, where, banner, delimiter,
                                   tz_name, progress, quality_rules)


def codebook_csv(survey: Survey, tz_name: str = DEFAULT_TIMEZONE, delimiter: str = ",") -> bytes:
    """The codebook (analytics.codebook) as a CSV file, UTF-8 with BOM."""
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter).writerows(codebook_rows(survey, tz_name))
    return out.getvalue().encode("utf-8-sig")


async def export_files(
    db_url: str,
    survey: Survey,
    fmt: str,
    stem: str,
    *,
    completed_only: bool = False,
    where: Filter | None = None,
    banner: str | None = None,
    delimiter: str = ",",
    tz_name: str = DEFAULT_TIMEZONE,
    quality_rules: QualityRules | None = None,
    progress: Progress | None = None,
) -> list[tuple[str, bytes]]:
    """The export and its codebook as (file name, bytes): XLSX carries the codebook as a sheet, CSV and SAV get
    ``<stem>.codebook.csv`` beside them."""
    kind = export_format(fmt)
    content = await export_bytes(db_url, survey, kind, completed_only=completed_only, where=where, banner=banner,
                                 delimiter=delimiter, tz_name=tz_name, progress=progress, quality_rules=quality_rules)
    files = [(f"{stem}.{kind.value}", content)]
    match kind:
        case ExportFormat.XLSX:
            return files
        case ExportFormat.CSV | ExportFormat.SAV:
            full = await asyncio.to_thread(_with_removed_blocking, db_url, survey)  # the file's columns, removed included
            codebook_delimiter = delimiter if kind == ExportFormat.CSV else ","
            return files + [(f"{stem}.codebook.csv", codebook_csv(full, tz_name, codebook_delimiter))]
        case _ as unreachable:
            assert_never(unreachable)


def _with_removed_blocking(db_url: str, survey: Survey) -> Survey:
    """storage.definitions.with_removed on a private engine in this thread's own event loop."""

    async def go() -> Survey:
        engine = create_engine(db_url)
        try:
            return await definitions.with_removed(read_only(engine), survey)
        finally:
            await engine.dispose()

    return asyncio.run(go())


async def completed_count(engine: AsyncEngine, survey: Survey) -> int:
    """How many responses to the survey are completed."""
    async with read_only(engine).connect() as conn:
        stmt = select(func.count()).select_from(Response).where(
            Response.survey_id == survey.id, Response.status == COMPLETED
        )
        return int((await conn.execute(stmt)).scalar_one())
