"""The responses as an analysis-ready pandas DataFrame, and the SPSS ``.sav`` file made from it.

``load_responses(database_url)`` is the one call a notebook needs: one row per response, the columns of
the exports (see analytics.codebook), with pandas types that keep their meaning: single-choice labels as
categoricals in questionnaire order (ordered when the questionnaire says ``ordered: true``), codes, 0/1
flags, scales and numbers as nullable integers, times as timezone-aware datetimes in ``TIMEZONE``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
import tempfile
from pathlib import Path
from typing import Any, assert_never
from zoneinfo import ZoneInfo

import pandas as pd

from analytics.codebook import DEFAULT_TIMEZONE, Variable, VariableKind, quality_variables, variables
from survey.model import QuestionType, Survey

SPSS_NAME_MAX = 64


def typed_frame(survey: Survey, columns: list[str], rows: list[list], tz_name: str = DEFAULT_TIMEZONE) -> pd.DataFrame:
    """A DataFrame of export rows with pandas types (see the module docstring)."""
    frame = pd.DataFrame(rows, columns=columns)
    tz = ZoneInfo(tz_name)
    for name in ("started_at", "completed_at"):
        frame[name] = pd.to_datetime(frame[name], utc=True).dt.tz_convert(tz)
    for name in ("response_id", "duration_seconds", "survey_version"):
        frame[name] = frame[name].astype("Int64")
    kinds = {v.name: v for v in variables(survey, tz_name)}
    for q in survey.questions:
        # The data frame's (and so the SAV file's) one dispatch on the question type; assert_never for a missed one.
        match q.type:
            case QuestionType.SINGLE:
                labels = [o.text for o in q.options] + ([survey.other_label(q)] if q.other_allowed else [])
                # Labels the questionnaire no longer has (an edited file) stay visible as extra categories.
                extra = sorted(set(frame[q.id].dropna()) - set(labels))
                frame[q.id] = pd.Categorical(frame[q.id], categories=labels + extra, ordered=q.ordered)
                frame[f"{q.id}__code"] = pd.to_numeric(frame[f"{q.id}__code"], errors="coerce").astype("Int64")
            case QuestionType.MULTIPLE:
                for v in kinds.values():
                    if v.name.startswith(f"{q.id}__") and v.kind == VariableKind.FLAG:
                        frame[v.name] = pd.to_numeric(frame[v.name], errors="coerce").astype("Int8")
            case QuestionType.SCALE | QuestionType.NUMBER:
                frame[q.id] = pd.to_numeric(frame[q.id], errors="coerce").astype("Int64")
            case QuestionType.TEXT:
                pass  # text stays text (object)
            case _ as unreachable:
                assert_never(unreachable)
    for v in quality_variables(survey):  # consent, seconds and quality flags (empty for older responses)
        if v.kind == VariableKind.FLAG:
            frame[v.name] = pd.to_numeric(frame[v.name], errors="coerce").astype("Int8")
        elif v.kind == VariableKind.NUMBER:
            frame[v.name] = pd.to_numeric(frame[v.name], errors="coerce").astype("Float64")
    return frame


def _spss_names(names: list[str]) -> dict[str, str]:
    """Export column -> SPSS variable name (at most 64 bytes, letters, digits and _, unique)."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        candidate = re.sub(r"[^A-Za-z0-9_]", "_", name)
        if not candidate[:1].isalpha():
            candidate = "v" + candidate
        candidate = candidate[:SPSS_NAME_MAX]
        n = 1
        while candidate.lower() in used:
            suffix = f"_{n}"
            candidate = candidate[: SPSS_NAME_MAX - len(suffix)] + suffix
            n += 1
        used.add(candidate.lower())
        out[name] = candidate
    return out


def sav_bytes(survey: Survey, frame: pd.DataFrame, tz_name: str = DEFAULT_TIMEZONE) -> bytes:
    """The frame as an SPSS .sav file: variable labels (the question texts), value labels (option texts)."""
    import pyreadstat

    labels_of: dict[str, Variable] = {v.name: v for v in variables(survey, tz_name)}
    names = _spss_names(list(frame.columns))
    out = pd.DataFrame(index=frame.index)
    measure: dict[str, str] = {}
    for column in frame.columns:
        series = frame[column]
        name = names[column]
        v = labels_of.get(column)
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            out[name] = series.dt.tz_localize(None)  # SPSS times have no zone: local TIMEZONE time, as labelled
            measure[name] = "scale"
        elif isinstance(series.dtype, pd.CategoricalDtype):
            out[name] = series.astype(object).where(series.notna(), "")
            measure[name] = "nominal"
        elif pd.api.types.is_integer_dtype(series.dtype) or pd.api.types.is_float_dtype(series.dtype):
            out[name] = series.astype("float64")  # SPSS numbers are doubles; missing = system missing
            measure[name] = "nominal" if v is not None and v.kind in (VariableKind.SINGLE, VariableKind.FLAG) else "scale"
        else:
            out[name] = series.astype(object).where(series.notna(), "").astype(str)
            measure[name] = "nominal"
    column_labels = [labels_of[c].label if c in labels_of else c for c in frame.columns]
    value_labels = {
        names[c]: {float(code): label for code, label in labels_of[c].values.items()}
        for c in frame.columns
        if c in labels_of and labels_of[c].values
    }
    # pyreadstat writes to a path; a temporary file keeps the API bytes-in, bytes-out like the other formats.
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.sav"
        pyreadstat.write_sav(out, str(path), column_labels=column_labels, variable_value_labels=value_labels,
                             variable_measure=measure)
        return path.read_bytes()


def _run(coro_factory: Any) -> Any:
    """Run a coroutine from sync code, also inside a running event loop (Jupyter runs one)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro_factory())
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(coro_factory())).result()


def load_responses(
    database_url: str,
    survey: Survey | str | Path | None = None,
    *,
    completed_only: bool = False,
    where: str | None = None,
    timezone: str = DEFAULT_TIMEZONE,
) -> pd.DataFrame:
    """The responses in ``database_url`` as a typed DataFrame, one row per response.

    ``survey``: the questionnaire (a Survey or a YAML path; the bundled study when None);
    ``where``: a respondent filter as in /stats (``"11=2 12=1-50"``); ``timezone``: of the times.
    """
    from analytics.export import collect_rows
    from analytics.filters import parse_filter
    from storage.db import create_engine
    from survey.loader import load_survey

    if not isinstance(survey, Survey):
        survey = load_survey(survey)
    condition = parse_filter(where, survey) if where else None

    async def go() -> tuple[list[str], list[list]]:
        engine = create_engine(database_url)
        try:
            return await collect_rows(engine, survey, completed_only=completed_only, where=condition, tz_name=timezone)
        finally:
            await engine.dispose()

    columns, rows = _run(go)
    return typed_frame(survey, columns, rows, timezone)


__all__ = ["load_responses", "sav_bytes", "typed_frame"]
