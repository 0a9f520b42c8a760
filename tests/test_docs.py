"""The docs and the code cannot drift: the configuration page's settings table is the one bot/settings.py
renders, and README.md stays a short front page. Pure file reads (no mkdocs needed)."""

from __future__ import annotations

from pathlib import Path

from bot.settings import Settings, settings_markdown, settings_rows

ROOT = Path(__file__).resolve().parents[1]
CONFIG_PAGE = ROOT / "docs" / "operators" / "configuration.md"
START, END = "<!-- settings:start -->", "<!-- settings:end -->"


def page_table() -> str:
    text = CONFIG_PAGE.read_text(encoding="utf-8")
    assert text.count(START) == 1 and text.count(END) == 1, f"{CONFIG_PAGE}: one {START} … {END} block"
    return text.split(START, 1)[1].split(END, 1)[0]


def test_configuration_page_table_is_the_settings_table():
    assert page_table().strip() == settings_markdown().strip(), (
        "docs/operators/configuration.md differs from bot/settings.py: run scripts/gen-settings-table"
    )


def test_every_setting_has_one_row_with_a_meaning():
    rows = settings_rows()
    names = [env for env, _, _ in rows]
    assert names == [name.upper() for name in Settings.model_fields]
    assert len(set(names)) == len(names)
    assert all(default and meaning for _, default, meaning in rows), [r for r in rows if not (r[1] and r[2])]
    assert not any("|" in cell for row in rows for cell in row), "a | would split a markdown table cell"


def test_readme_is_short():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; move the detail into docs/"


def test_run_help_lists_the_same_settings(capsys):
    """`surveybot run --help` prints the rows the configuration page shows: one source for both."""
    import pytest

    from bot.cli import main

    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for env, default, meaning in settings_rows():
        line = " ".join(f"{env} {meaning} [default: {default}]".replace("`", "").split())
        assert line in out, line
