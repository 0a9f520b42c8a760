"""Spreadsheet cells: text a spreadsheet would run as a formula, and the one XlsxWriter set-up.

Formula injection: a text cell that starts with ``=``, ``+``, ``-``, ``@``, tab or CR is written with a
leading ``'`` where a spreadsheet parses cells (CSV, and the text of the XLSX sheets that are not raw
answers); numbers stay numbers. Workbooks are opened with every ``strings_to_*`` conversion off, so a text
written with ``write_string`` is never turned into a formula, a number or a link.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

DANGEROUS_START = ("=", "+", "-", "@", "\t", "\r")

T = TypeVar("T")


def neutralize(value: str) -> str:
    """Prefix a text that a spreadsheet would run as a formula with "'"."""
    return "'" + value if value.startswith(DANGEROUS_START) else value


def neutralize_optional(value: str | None) -> str | None:
    """``neutralize`` for a cell that may be empty (None stays None)."""
    return None if value is None else neutralize(value)


def verbatim(value: T) -> T:
    """A cell written exactly as given (XLSX and SPSS cells are never formulas)."""
    return value


def workbook(target: Any, *, streaming: bool = False) -> Any:
    """An XlsxWriter workbook on a path or a binary stream, every text cell written verbatim.

    ``streaming``: rows are flushed as they are written (``constant_memory``; each row written once, in
    order), for the raw-data export of any size; otherwise the workbook is built in memory.
    """
    import xlsxwriter

    mode = {"constant_memory": True} if streaming else {"in_memory": True}
    return xlsxwriter.Workbook(
        target, {**mode, "strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}
    )


def write_row(ws: Any, r: int, cells: list, date_format: Any = None) -> None:
    """One row of cells: text as text, datetimes with ``date_format``, numbers as numbers; None left empty."""
    for c, value in enumerate(cells):
        if value is None:
            continue
        if isinstance(value, str):
            ws.write_string(r, c, value)
        elif isinstance(value, datetime):
            ws.write_datetime(r, c, value, date_format)
        else:
            ws.write_number(r, c, value)
