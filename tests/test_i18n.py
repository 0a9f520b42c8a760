"""The bot's message catalogs (survey/i18n.py): complete in every shipped language, compiled at install, and no
Russian text left in the code outside them."""

from __future__ import annotations

import ast
import gettext
import re
import runpy
import shutil
import tomllib
from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from survey import i18n

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION = ["survey", "storage", "analytics", "bot"]
CYRILLIC = re.compile(r"[А-Яа-яЁё]")


TEMPLATES = sorted((ROOT / "analytics" / "report_templates").glob("*.j2"))  # the HTML report's Jinja2 templates


def _babel_mappings() -> tuple[list[tuple[str, str]], dict[str, dict[str, str]]]:
    """The extraction mapping of `pybabel extract -F pyproject.toml` ([tool.babel]): Python code and the .j2
    templates (Jinja2's extractor, with the i18n extension)."""
    mappings = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["babel"]["mappings"]
    return ([(m["pattern"], m["method"]) for m in mappings],
            {m["pattern"]: {k: v for k, v in m.items() if k not in ("pattern", "method")} for m in mappings})


def _extracted() -> dict[str, tuple[int, str]]:
    """Every msgid marked in production code and templates (as `pybabel extract -F pyproject.toml` finds them),
    with where."""
    found: dict[str, tuple[int, str]] = {}
    method_map, options_map = _babel_mappings()
    for package in PRODUCTION:
        for filename, line, message, _comments, _context in extract_from_dir(
                ROOT / package, method_map=method_map, options_map=options_map, keywords=DEFAULT_KEYWORDS):
            msgid = message[0] if isinstance(message, tuple) else message
            found.setdefault(msgid, (line, f"{package}/{filename}"))
    return found


def _catalog(language: str):
    with (i18n.LOCALE_DIR / language / "LC_MESSAGES" / f"{i18n.DOMAIN}.po").open("rb") as f:
        return read_po(f, locale=language)


KEYWORDS = {"gettext", "ngettext", "N_", "_"}


def _marked_in_code() -> dict[str, str]:
    """Every literal msgid the code passes to gettext / ngettext / N_, found by walking the syntax tree."""
    found = {}
    for package in PRODUCTION:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                        and isinstance(node.args[0].value, str):
                    func = node.func
                    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
                    if name in KEYWORDS:
                        found[node.args[0].value] = f"{path.relative_to(ROOT)}:{node.lineno}"
    return found


def test_the_code_marks_its_texts():
    assert len(_extracted()) > 100


TEMPLATE_CALL = re.compile(r'\b_\(\s*"((?:[^"\\]|\\.)*)"')


def test_pybabel_extracts_the_report_templates():
    """Every `_("...")` of the report's templates is extracted (so the completeness test below covers them)."""
    extracted = _extracted()
    in_templates = {m.replace("\\'", "'").replace('\\"', '"') for path in TEMPLATES
                    for m in TEMPLATE_CALL.findall(path.read_text(encoding="utf-8"))}
    assert len(in_templates) > 50
    unseen = sorted(msgid for msgid in in_templates if msgid not in extracted)
    assert not unseen, "pybabel extract does not see these template texts:\n" + "\n".join(unseen)
    assert extracted["Contents"][1] == "analytics/report_templates/report.html.j2"


def test_pybabel_extracts_every_marked_text():
    """A gettext call pybabel cannot see (inside an f-string, say) would be missing from the catalogs without
    the completeness test noticing: every literal msgid in the code must be among the extracted ones."""
    extracted = _extracted()
    unseen = [f"{where}: {msgid!r}" for msgid, where in _marked_in_code().items() if msgid not in extracted]
    assert not unseen, "pybabel extract does not see these (move the call out of the f-string):\n" + "\n".join(unseen)


@pytest.mark.parametrize("language", i18n.CATALOG_LANGUAGES)
def test_every_extracted_text_is_translated(language):
    catalog = _catalog(language)
    missing = []
    for msgid, (line, path) in sorted(_extracted().items()):
        entry = catalog.get(msgid)
        strings = [] if entry is None else (list(entry.string) if isinstance(entry.string, (list, tuple)) else [entry.string])
        if entry is None or entry.fuzzy or not strings or not all(strings):
            missing.append(f"{path}:{line}: {msgid!r}")
    assert not missing, (f"{len(missing)} texts lack a {language} translation (run scripts/catalogs, then "
                         f"translate them in survey/locale/{language}/LC_MESSAGES/surveybot.po):\n" + "\n".join(missing))


def _docstring_nodes(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


# Linguistic data, not texts the bot says: the stop words of free-text answers that the duplicate-text flag ignores
# (lower-case single words only, so a sentence slipped in there is still caught).
WORD_LISTS = {"analytics/quality.py": re.compile(r"[а-яё]{1,12}")}


def test_no_russian_string_literals_in_production_code():
    """The bot's Russian texts live in the ru catalog, the questionnaire's in survey/data/: a Cyrillic string
    literal anywhere else is a text that skipped the catalogs (docstrings and comments may quote them)."""
    wrong = []
    for package in PRODUCTION:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            docs = _docstring_nodes(tree)
            for node in ast.walk(tree):
                words = WORD_LISTS.get(str(path.relative_to(ROOT)))
                if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
                        and CYRILLIC.search(node.value) and not (words and words.fullmatch(node.value))):
                    wrong.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value[:60]!r}")
    assert not wrong, f"{len(wrong)} Russian string literals outside the catalogs:\n" + "\n".join(wrong)


def test_no_russian_text_in_the_report_templates():
    """The report's templates say everything through `_("...")` with English msgids: no Cyrillic letter in them
    (Jinja comments included, so nothing is left behind in one)."""
    assert TEMPLATES
    wrong = [f"{path.relative_to(ROOT)}:{n}: {line.strip()[:80]}" for path in TEMPLATES
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if CYRILLIC.search(line)]
    assert not wrong, f"{len(wrong)} Russian lines in the report's templates:\n" + "\n".join(wrong)


def test_numbers_follow_the_language():
    ru, en = i18n.translator("ru"), i18n.translator("en")
    assert ru.percent(Decimal("54.45")) == "54,5%"
    assert en.percent(Decimal("54.45")) == "54.5%"
    assert ru.decimal(6.25) == "6,3" and en.decimal(6.25) == "6.3"
    assert ru.percent(None) == "—"
    assert ru.number(-1.5) == "−1,5" and en.number(2.0) == "2"


def test_a_language_without_catalog_reads_the_english_msgids():
    t = i18n.translator("de")
    assert t.gettext("Back") == "Back"
    assert i18n.catalog_language("ru-RU") == "ru" and i18n.catalog_language("de") == "en"
    assert i18n.catalog_language(None) == "en"


def test_translators_are_built_once_per_language():
    assert i18n.translator("ru") is i18n.translator("ru")


def test_the_build_step_compiles_every_catalog(tmp_path):
    """setup.py's build_py (pip install ., pip install -e ., make setup) writes each .mo beside its .po; the
    compiled catalog says what the .po says."""
    locale = tmp_path / "locale"
    shutil.copytree(i18n.LOCALE_DIR, locale, ignore=shutil.ignore_patterns("*.mo", "*.pot"))
    runpy.run_path(str(ROOT / "setup.py"), run_name="setup")["compile_catalogs"](locale)
    for language in i18n.CATALOG_LANGUAGES:
        mo = locale / language / "LC_MESSAGES" / f"{i18n.DOMAIN}.mo"
        assert mo.exists()
        with mo.open("rb") as f:
            compiled = gettext.GNUTranslations(f)
        catalog = _catalog(language)
        for message in catalog:
            if message.id and not message.pluralizable:
                assert compiled.gettext(message.id) == message.string, message.id


def test_package_data_ships_the_catalogs():
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"locale/*/LC_MESSAGES/*.mo"' in text and '"locale/*/LC_MESSAGES/*.po"' in text
