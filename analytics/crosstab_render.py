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
from survey.i18n import N_, Translator, translator
from survey.text import clip

LABEL_WIDTH = 20
CELL_WIDTH = 7
LETTERS = string.ascii_uppercase
MARKS_NOTE = N_("▲ / ▼ — the share is significantly higher / lower than in the other columns (adjusted residual "
                "beyond ±{z}).")
UNRELIABLE = N_("⚠ more than 20% of expected frequencies are below 5 — the test is unreliable")


def marks_note(tr: Translator) -> str:
    """The note under a table on its ▲ / ▼ marks, in ``tr``'s language."""
    return tr.gettext(MARKS_NOTE).format(z=tr.decimal(1.96, 2))


def column_letter(j: int) -> str:
    """The letter naming banner column j in tables: A, B, …, Z, AA, …"""
    return LETTERS[j] if j < len(LETTERS) else f"{LETTERS[j // 26 - 1]}{LETTERS[j % 26]}"


def test_line(test: TestResult | None, tr: Translator | None = None) -> str:
    """The test in words: which one ran, its statistic, df, p (and Cramér's V)."""
    tr = tr or translator(None)
    if test is None:
        return tr.gettext("no test applies (fewer than two non-empty rows or columns)")
    if test.name == "fisher":
        return tr.gettext("Fisher's exact test (2×2, expected frequencies below 5): {p}").format(p=fmt_p(tr, test.p_value))
    if test.name == "kruskal":
        return tr.gettext("Kruskal–Wallis test: H = {h}, df = {df}, {p}").format(
            h=fmt_decimal(tr, test.statistic, 2), df=test.df, p=fmt_p(tr, test.p_value))
    line = tr.gettext("chi-square: χ² = {chi2}, df = {df}, {p}, Cramér's V = {v}").format(
        chi2=fmt_decimal(tr, test.statistic, 2), df=test.df, p=fmt_p(tr, test.p_value), v=fmt_decimal(tr, test.cramers_v, 2))
    if test.unreliable:
        line += f"; {tr.gettext(UNRELIABLE)} ({fmt_decimal(tr, test.low_expected_share * 100, 0)}%)"
    return line


def _p_cell(tr: Translator, test: TestResult | None) -> str:
    if test is None:
        return ""
    p = fmt_p(tr, test.p_value).replace("p = ", "").replace("p ", "")
    return p + ("F" if test.name == "fisher" else "") + ("⚠" if test.unreliable else "") + ("✱" if test.significant else "")


def _head(tr: Translator, t: CrossTab, filter_text: str | None) -> list[str]:
    lines = [f"<b>{t.number}. {escape(t.title)} × {escape(t.banner.name)}</b>"]
    if filter_text:
        lines.append(tr.gettext("Filter: {filter}").format(filter=escape(filter_text)))
    legend = "; ".join(f"{column_letter(j)} — {escape(c.label)} (n = {t.bases[j]})" for j, c in enumerate(t.banner.columns))
    lines.append(tr.gettext("Columns: {legend}; {all} — everyone who answered question {number} (n = {n}).").format(
        legend=legend, all=tr.gettext(ALL), number=t.number, n=t.total_base))
    return lines


ALL = N_("All")  # the column of everyone


def _pad(text: str, width: int = CELL_WIDTH) -> str:
    return text.rjust(width)


def render_table(t: CrossTab, filter_text: str | None = None) -> str:
    """One cross-tab as a single HTML message (it may be longer than the limit: the caller checks)."""
    tr = translator(t.language)
    keys = [column_letter(j) for j in range(len(t.banner.columns))] + [tr.gettext(ALL)]
    grid = [" " * LABEL_WIDTH + "".join(_pad(k) for k in keys) + ("  p" if t.tests_each_option else "")]
    grid.append("n".ljust(LABEL_WIDTH) + "".join(_pad(str(n)) for n in [*t.bases, t.total_base]))
    if t.is_numeric:
        grid.append(tr.gettext("mean").ljust(LABEL_WIDTH) + "".join(_pad(fmt_decimal(tr, m)) for m in t.means))
        grid.append(tr.gettext("median").ljust(LABEL_WIDTH) + "".join(_pad(fmt_median(tr, m)) for m in t.medians))
    for row in t.rows:
        cells = [*row.cells, row.total]
        pct = "".join(_pad(("—" if c.percent is None else fmt_decimal(tr, c.percent)) + (c.mark or " ")) for c in cells)
        grid.append(clip(row.label, LABEL_WIDTH - 1).ljust(LABEL_WIDTH) + pct
                    + ("  " + _p_cell(tr, row.test) if row.test else ""))
        grid.append(" " * LABEL_WIDTH + "".join(_pad(f"{c.count} ") for c in cells))
    lines = _head(tr, t, filter_text) + ["<pre>" + escape("\n".join(grid)) + "</pre>"]
    lines += _footer(tr, t)
    return "\n".join(lines)


def _footer(tr: Translator, t: CrossTab) -> list[str]:
    lines = []
    if t.note:
        lines.append(f"<i>{escape(t.note)}</i>")
    if t.tests_each_option:
        lines.append(tr.gettext("Percentages are of those who answered in the column, adding up to more than 100%. "
                                "Each option is tested on its own (a 2×k table): p in the last column (chi-square; "
                                "F — Fisher's exact test; ⚠ — unreliable; ✱ — p &lt; {alpha}).").format(
            alpha=tr.decimal(0.05, 2)))
    elif t.is_numeric:
        lines.append(tr.gettext("Comparison of the columns: {test}").format(test=escape(test_line(t.test, tr)))
                     if t.test or not t.note else "")
    elif not t.note:
        lines.append(tr.gettext("Percentages are of those who answered in the column. Test of independence: "
                                "{test}.").format(test=escape(test_line(t.test, tr))))
    if not t.is_numeric:
        lines.append(f"<i>{marks_note(tr)}</i>")
    return [line for line in lines if line]


def render_short(t: CrossTab, filter_text: str | None = None, limit: int = MESSAGE_LIMIT) -> str:
    """The chat summary of a table sent as a file: columns, the test(s), the marked cells."""
    tr = translator(t.language)
    lines = _head(tr, t, filter_text)
    if t.is_numeric:
        lines.append(tr.gettext("Means: {means}; {all} {total}").format(
            means="; ".join(f"{column_letter(j)} {fmt_decimal(tr, m)}" for j, m in enumerate(t.means[:-1])),
            all=tr.gettext(ALL), total=fmt_decimal(tr, t.means[-1])))
    if t.tests_each_option:
        significant = [r for r in t.rows if r.test is not None and r.test.significant]
        lines.append(tr.gettext("Options with significant differences between the columns: {count} of {total}.").format(
            count=len(significant), total=len(t.rows)))
    elif t.test is not None or not t.note:
        lines.append(tr.gettext("Test: {test}.").format(test=escape(test_line(t.test, tr))))
    if t.note:
        lines.append(f"<i>{escape(t.note)}</i>")
    marked = [(row, column_letter(j), c) for row in t.rows for j, c in enumerate(row.cells) if c.mark]
    if marked:
        lines.append(tr.gettext("Significant differences:"))
        for row, letter, c in marked:
            lines.append(f"• {escape(clip(row.label, 60))} — {letter}: {fmt_decimal(tr, c.percent)}% {c.mark} "
                         f"({tr.gettext(ALL)}: {fmt_decimal(tr, row.total.percent)}%)")
    lines.append(tr.gettext("The whole table is in the file."))
    text = "\n".join(lines)
    while not fits(text, limit) and len(lines) > 3:  # drop marked lines from the end until it fits
        lines.pop(-2)
        lines[-1] = tr.gettext("… and more; the whole table is in the file.")
        text = "\n".join(lines)
    return text if fits(text, limit) else split_messages(lines, limit)[0]


# XLSX -----------------------------------------------------------------------------------


def sheet_rows(tables: list[CrossTab], filter_text: str | None = None) -> list[list]:
    """Every table stacked on one sheet: a title row, the column header, n, then % and count per column."""
    tr = translator(tables[0].language if tables else None)
    out: list[list] = []
    if filter_text:
        out.append([tr.gettext("Filter: {filter}").format(filter=filter_text)])
    for t in tables:
        columns = [c.label for c in t.banner.columns] + [tr.gettext(ALL)]
        out.append([neutralize(f"{t.number}. {t.title} × {t.banner.name}")])
        out.append([""] + [neutralize(x) for c in columns for x in (f"{c}, %", tr.gettext("{column}, count").format(column=c))]
                   + [tr.gettext("significant"), tr.gettext("test")])
        out.append(["n"] + [x for n in [*t.bases, t.total_base] for x in (None, n)])
        if t.is_numeric:
            out.append([tr.gettext("mean")] + [x for m in t.means for x in (as_float(m), None)])
            out.append([tr.gettext("median")] + [x for m in t.medians for x in (as_float(m), None)])
        for row in t.rows:
            cells = []
            for c in [*row.cells, row.total]:
                cells += [as_float(c.percent), c.count]
            marks = " ".join(f"{t.banner.columns[j].label} {c.mark}" for j, c in enumerate(row.cells) if c.mark)
            out.append([neutralize(row.label)] + cells + [neutralize(marks) if marks else None,
                                                          test_line(row.test, tr) if row.test else None])
        if t.note:
            out.append([t.note])
        if not t.tests_each_option:
            out.append([test_line(t.test, tr)])
        out.append([])
    out.append([marks_note(tr)])
    return out


def tables_xlsx(tables: list[CrossTab], filter_text: str | None = None) -> bytes:
    """A workbook with the stacked tables (sheet «Tables» / «Таблицы»)."""
    tr = translator(tables[0].language if tables else None)
    buf = io.BytesIO()
    book = workbook(buf)
    ws = book.add_worksheet(tr.gettext("Tables"))
    ws.set_column(0, 0, 40)
    for r, cells in enumerate(sheet_rows(tables, filter_text)):
        write_row(ws, r, cells)
    book.close()
    return buf.getvalue()


async def crosstab_sheet(engine, survey, banner: str, *, where=None, completed_only: bool = False,
                         language: str | None = None) -> tuple[str, list[list]]:
    """(sheet title, rows) of every question crossed by the banner, for the XLSX export (in ``language``)."""
    from analytics.crosstab import build_crosstabs

    tr = translator(language)
    tables = await build_crosstabs(engine, survey, banner, where=where, completed_only=completed_only,
                                   language=tr.language)
    name = tables[0].banner if tables else None
    if name is not None and name.number:
        title = tr.gettext("By question {number}").format(number=name.number)
    else:
        title = tr.gettext("By source")
    return title, sheet_rows(tables, None if where is None else where.describe(tr))


def render_overview(tables: list[CrossTab], filter_text: str | None = None, language: str | None = None) -> list[str]:
    """One line per table (its test and how many cells are marked), for the chat beside the XLSX file."""
    tr = translator(tables[0].language if tables else language)
    if not tables:
        return [tr.gettext("There are no questions that make tables.")]
    banner = tables[0].banner
    head = ["<b>" + tr.gettext("All questions × {banner}").format(banner=escape(banner.name)) + "</b>"]
    if filter_text:
        head.append(tr.gettext("Filter: {filter}").format(filter=escape(filter_text)))
    legend = "; ".join(f"{column_letter(j)} — {escape(c.label)}" for j, c in enumerate(banner.columns))
    head += [tr.gettext("Columns: {legend}.").format(legend=legend),
             tr.gettext("The whole tables are in the XLSX file; below — the test of each question.")]
    lines = []
    for t in tables:
        marked = sum(1 for row in t.rows for c in row.cells if c.mark)
        if t.tests_each_option:
            significant = sum(1 for r in t.rows if r.test is not None and r.test.significant)
            what = (tr.gettext("options with significant differences: {count} of {total}").format(
                count=significant, total=len(t.rows)) if not t.note else escape(t.note))
        elif t.note and t.test is None:
            what = escape(t.note)
        else:
            what = escape(test_line(t.test, tr)) + (" ✱" if t.test is not None and t.test.significant else "")
        tail = "; " + tr.gettext("cells marked ▲/▼: {count}").format(count=marked) if marked else ""
        lines.append(f"{t.number}. {escape(clip(t.title, 50))} (n = {t.total_base}) — {what}{tail}")
    return pack_blocks([head, lines])
