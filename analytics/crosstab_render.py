"""Cross-tabs as Telegram HTML (a monospaced table under the limit) and as XLSX sheets."""

from __future__ import annotations

import io
import string
from html import escape

from analytics.cells import neutralize, workbook, write_row
from analytics.compare import fmt_p
from analytics.crosstab import CrossTab
from analytics.messages import MESSAGE_LIMIT, fits, pack_blocks, split_messages
from analytics.significance import TestResult
from analytics.summary import as_float
from analytics.summary_text import fmt_decimal, fmt_median
from survey.text import clip

LABEL_WIDTH = 20
CELL_WIDTH = 7
LETTERS = string.ascii_uppercase
MARKS_NOTE = "▲ / ▼ — доля значимо выше / ниже, чем в остальных столбцах (скорректированный остаток за ±1,96)."
UNRELIABLE = "⚠ больше 20% ожидаемых частот меньше 5 — тест ненадёжен"


def column_letter(j: int) -> str:
    """The letter naming banner column j in tables: A, B, …, Z, AA, …"""
    return LETTERS[j] if j < len(LETTERS) else f"{LETTERS[j // 26 - 1]}{LETTERS[j % 26]}"


def test_line(test: TestResult | None) -> str:
    """The test in words: which one ran, its statistic, df, p (and Cramér's V)."""
    if test is None:
        return "тест не применим (меньше двух непустых строк или столбцов)"
    if test.name == "fisher":
        return f"точный тест Фишера (2×2, ожидаемые частоты меньше 5): {fmt_p(test.p_value)}"
    if test.name == "kruskal":
        return f"тест Краскела–Уоллиса: H = {fmt_decimal(test.statistic, 2)}, df = {test.df}, {fmt_p(test.p_value)}"
    line = (f"хи-квадрат: χ² = {fmt_decimal(test.statistic, 2)}, df = {test.df}, {fmt_p(test.p_value)}, "
            f"V Крамера = {fmt_decimal(test.cramers_v, 2)}")
    if test.unreliable:
        line += f"; {UNRELIABLE} ({fmt_decimal(test.low_expected_share * 100, 0)}%)"
    return line


def _p_cell(test: TestResult | None) -> str:
    if test is None:
        return ""
    p = fmt_p(test.p_value).replace("p = ", "").replace("p ", "")
    return p + ("F" if test.name == "fisher" else "") + ("⚠" if test.unreliable else "") + ("✱" if test.significant else "")


def _head(t: CrossTab, filter_text: str | None) -> list[str]:
    lines = [f"<b>{t.number}. {escape(t.title)} × {escape(t.banner.name)}</b>"]
    if filter_text:
        lines.append(f"Фильтр: {escape(filter_text)}")
    legend = "; ".join(f"{column_letter(j)} — {escape(c.label)} (n = {t.bases[j]})" for j, c in enumerate(t.banner.columns))
    lines.append(f"Столбцы: {legend}; Все — все ответившие на вопрос {t.number} (n = {t.total_base}).")
    return lines


def _pad(text: str, width: int = CELL_WIDTH) -> str:
    return text.rjust(width)


def render_table(t: CrossTab, filter_text: str | None = None) -> str:
    """One cross-tab as a single HTML message (it may be longer than the limit: the caller checks)."""
    keys = [column_letter(j) for j in range(len(t.banner.columns))] + ["Все"]
    grid = [" " * LABEL_WIDTH + "".join(_pad(k) for k in keys) + ("  p" if t.tests_each_option else "")]
    grid.append("n".ljust(LABEL_WIDTH) + "".join(_pad(str(n)) for n in [*t.bases, t.total_base]))
    if t.is_numeric:
        grid.append("среднее".ljust(LABEL_WIDTH) + "".join(_pad(fmt_decimal(m)) for m in t.means))
        grid.append("медиана".ljust(LABEL_WIDTH) + "".join(_pad(fmt_median(m)) for m in t.medians))
    for row in t.rows:
        cells = [*row.cells, row.total]
        pct = "".join(_pad(("—" if c.percent is None else fmt_decimal(c.percent)) + (c.mark or " ")) for c in cells)
        grid.append(clip(row.label, LABEL_WIDTH - 1).ljust(LABEL_WIDTH) + pct + ("  " + _p_cell(row.test) if row.test else ""))
        grid.append(" " * LABEL_WIDTH + "".join(_pad(f"{c.count} ") for c in cells))
    lines = _head(t, filter_text) + ["<pre>" + escape("\n".join(grid)) + "</pre>"]
    lines += _footer(t)
    return "\n".join(lines)


def _footer(t: CrossTab) -> list[str]:
    lines = []
    if t.note:
        lines.append(f"<i>{escape(t.note)}</i>")
    if t.tests_each_option:
        lines.append("Проценты — от ответивших в столбце, в сумме больше 100%. Каждый вариант проверен отдельно "
                     "(таблица 2×k): p в последнем столбце (хи-квадрат; F — точный тест Фишера; ⚠ — ненадёжно; "
                     "✱ — p &lt; 0,05).")
    elif t.is_numeric:
        lines.append(f"Сравнение столбцов: {escape(test_line(t.test))}" if t.test or not t.note else "")
    elif not t.note:
        lines.append("Проценты — от ответивших в столбце. Проверка независимости: " + escape(test_line(t.test)) + ".")
    if not t.is_numeric:
        lines.append(f"<i>{MARKS_NOTE}</i>")
    return [line for line in lines if line]


def render_short(t: CrossTab, filter_text: str | None = None, limit: int = MESSAGE_LIMIT) -> str:
    """The chat summary of a table sent as a file: columns, the test(s), the marked cells."""
    lines = _head(t, filter_text)
    if t.is_numeric:
        lines.append("Средние: " + "; ".join(f"{column_letter(j)} {fmt_decimal(m)}" for j, m in enumerate(t.means[:-1]))
                     + f"; Все {fmt_decimal(t.means[-1])}")
    if t.tests_each_option:
        significant = [r for r in t.rows if r.test is not None and r.test.significant]
        lines.append(f"Вариантов со значимыми различиями между столбцами: {len(significant)} из {len(t.rows)}.")
    elif t.test is not None or not t.note:
        lines.append("Проверка: " + escape(test_line(t.test)) + ".")
    if t.note:
        lines.append(f"<i>{escape(t.note)}</i>")
    marked = [(row, column_letter(j), c) for row in t.rows for j, c in enumerate(row.cells) if c.mark]
    if marked:
        lines.append("Значимые отличия:")
        for row, letter, c in marked:
            lines.append(f"• {escape(clip(row.label, 60))} — {letter}: {fmt_decimal(c.percent)}% {c.mark} "
                         f"(Все: {fmt_decimal(row.total.percent)}%)")
    lines.append("Таблица целиком — в файле.")
    text = "\n".join(lines)
    while not fits(text, limit) and len(lines) > 3:  # drop marked lines from the end until it fits
        lines.pop(-2)
        lines[-1] = "… и ещё; таблица целиком — в файле."
        text = "\n".join(lines)
    return text if fits(text, limit) else split_messages(lines, limit)[0]


# XLSX -----------------------------------------------------------------------------------


def sheet_rows(tables: list[CrossTab], filter_text: str | None = None) -> list[list]:
    """Every table stacked on one sheet: a title row, the column header, n, then % and count per column."""
    out: list[list] = []
    if filter_text:
        out.append([f"Фильтр: {filter_text}"])
    for t in tables:
        columns = [c.label for c in t.banner.columns] + ["Все"]
        out.append([neutralize(f"{t.number}. {t.title} × {t.banner.name}")])
        out.append([""] + [neutralize(x) for c in columns for x in (f"{c}, %", f"{c}, кол-во")] + ["значимо", "тест"])
        out.append(["n"] + [x for n in [*t.bases, t.total_base] for x in (None, n)])
        if t.is_numeric:
            out.append(["среднее"] + [x for m in t.means for x in (as_float(m), None)])
            out.append(["медиана"] + [x for m in t.medians for x in (as_float(m), None)])
        for row in t.rows:
            cells = []
            for c in [*row.cells, row.total]:
                cells += [as_float(c.percent), c.count]
            marks = " ".join(f"{t.banner.columns[j].label} {c.mark}" for j, c in enumerate(row.cells) if c.mark)
            out.append([neutralize(row.label)] + cells + [neutralize(marks) if marks else None,
                                                          test_line(row.test) if row.test else None])
        if t.note:
            out.append([t.note])
        if not t.tests_each_option:
            out.append([test_line(t.test)])
        out.append([])
    out.append([MARKS_NOTE])
    return out


def tables_xlsx(tables: list[CrossTab], filter_text: str | None = None) -> bytes:
    """A workbook with the stacked tables (sheet «Таблицы»)."""
    buf = io.BytesIO()
    book = workbook(buf)
    ws = book.add_worksheet("Таблицы")
    ws.set_column(0, 0, 40)
    for r, cells in enumerate(sheet_rows(tables, filter_text)):
        write_row(ws, r, cells)
    book.close()
    return buf.getvalue()


async def crosstab_sheet(engine, survey, banner: str, *, where=None, completed_only: bool = False) -> tuple[str, list[list]]:
    """(sheet title, rows) of every question crossed by the banner, for the XLSX export."""
    from analytics.crosstab import build_crosstabs

    tables = await build_crosstabs(engine, survey, banner, where=where, completed_only=completed_only)
    name = tables[0].banner if tables else None
    title = f"По вопросу {name.number}" if name is not None and name.number else "По источнику"
    return title, sheet_rows(tables, None if where is None else where.describe())


def render_overview(tables: list[CrossTab], filter_text: str | None = None) -> list[str]:
    """One line per table (its test and how many cells are marked), for the chat beside the XLSX file."""
    if not tables:
        return ["Нет вопросов, которые можно свести в таблицы."]
    banner = tables[0].banner
    head = [f"<b>Все вопросы × {escape(banner.name)}</b>"]
    if filter_text:
        head.append(f"Фильтр: {escape(filter_text)}")
    legend = "; ".join(f"{column_letter(j)} — {escape(c.label)}" for j, c in enumerate(banner.columns))
    head += [f"Столбцы: {legend}.", "Таблицы целиком — в файле XLSX; ниже — проверка по каждому вопросу."]
    lines = []
    for t in tables:
        marked = sum(1 for row in t.rows for c in row.cells if c.mark)
        if t.tests_each_option:
            significant = sum(1 for r in t.rows if r.test is not None and r.test.significant)
            what = f"вариантов со значимыми различиями: {significant} из {len(t.rows)}" if not t.note else escape(t.note)
        elif t.note and t.test is None:
            what = escape(t.note)
        else:
            what = escape(test_line(t.test)) + (" ✱" if t.test is not None and t.test.significant else "")
        tail = f"; отмечено ячеек ▲/▼: {marked}" if marked else ""
        lines.append(f"{t.number}. {escape(clip(t.title, 50))} (n = {t.total_base}) — {what}{tail}")
    return pack_blocks([head, lines])
