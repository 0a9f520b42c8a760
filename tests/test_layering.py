"""Architecture rules that a reader relies on, checked on the source itself.

Imports point one way (bot → analytics → storage → survey), no module imports another's private
name, and nothing outside storage/ touches the encoded columns (answers.choices,
responses.draft): they are read through storage.records. Inside bot/: respondent code never imports
admin code, the offline CLI commands never load telegram, the top level stays small, and every package
says what it is for.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["survey", "storage", "analytics", "bot"]  # each may import only the ones before it
ENCODED_COLUMNS = {"choices", "draft"}


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(module, imported names, line) of every import in a file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, [a.name for a in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names]
    return out


@pytest.mark.parametrize("package", LAYERS)
def test_imports_point_one_way(package):
    allowed = set(LAYERS[: LAYERS.index(package) + 1])
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in _modules(package)
        for module, _, line in _imports(path)
        if module.split(".")[0] in set(LAYERS) - allowed
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("package", LAYERS)
def test_no_private_names_across_modules(package):
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {name} from {module}"
        for path in _modules(package)
        for module, names, line in _imports(path)
        if module.split(".")[0] in LAYERS
        for name in names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("package", ["analytics", "bot"])
def test_encoded_columns_are_read_through_storage(package):
    wrong = []
    for path in _modules(package):
        model_names = {
            alias
            for module, names, _ in _imports(path)
            if module == "storage.models"
            for alias in names
        } | {"AnswerRow"}
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ENCODED_COLUMNS
                and isinstance(node.value, ast.Name)
                and node.value.id in model_names
            ):
                wrong.append(f"{path.relative_to(ROOT)}:{node.lineno} uses {node.value.id}.{node.attr}")
    assert not wrong, "\n".join(wrong)


def test_respondent_code_never_imports_admin_code():
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sorted((ROOT / "bot" / "respondent").rglob("*.py"))
        for module, names, line in _imports(path)
        if module == "bot.admin" or module.startswith("bot.admin.") or (module == "bot" and "admin" in names)
    ]
    assert not wrong, "\n".join(wrong)


def test_bot_top_level_is_small_and_every_package_says_what_it_is_for():
    top = sorted(p.name for p in (ROOT / "bot").glob("*.py"))
    assert len(top) <= 8, top
    for package in LAYERS:
        for init in sorted((ROOT / package).rglob("__init__.py")):
            if "migrations" in init.parts:
                continue
            doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
            assert doc and len(doc.split()) >= 8, f"{init.relative_to(ROOT)} needs a docstring saying what lives there"


OFFLINE = """
import sys
from bot.cli import main
code = main(sys.argv[1:])
loaded = sorted(m for m in sys.modules if m == "telegram" or m.startswith("telegram."))
print("TELEGRAM:" + ",".join(loaded[:5]))
sys.exit(code)
"""


@pytest.mark.parametrize("args", [["migrate"], ["stats"], ["stats", "--format", "json"],
                                  ["export", "--format", "csv", "-o", "out.csv"], ["export", "--format", "xlsx", "-o", "out.xlsx"],
                                  ["check-survey", str(ROOT / "survey" / "data" / "accounting.yaml")], ["health"]])
def test_offline_commands_never_import_telegram(tmp_path, args):
    """`surveybot stats`, `export`, `migrate`, … run without telegram in sys.modules (checked in a fresh process)."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'o.db'}"}
    if args[0] != "migrate":
        subprocess.run([sys.executable, "-c", OFFLINE, "migrate"], cwd=tmp_path, env=env, check=True, capture_output=True)
    done = subprocess.run([sys.executable, "-c", OFFLINE, *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert "TELEGRAM:" in done.stdout, done.stdout + done.stderr
    assert done.stdout.split("TELEGRAM:")[1].strip() == "", f"{args} imported telegram: {done.stdout}"
def test_the_bot_starts_without_charting_analysis_or_spreadsheet_libraries():
    """Start-up (issue 23): what `surveybot run` imports before its first getUpdates holds no charting, analysis or
    spreadsheet-reading library; they load when an admin first asks for a chart, a cross-tab or a test, or when the
    questionnaire is an XLSForm."""
    heavy = ("matplotlib", "pandas", "scipy", "numpy", "pyxform", "openpyxl")
    code = ("import sys, bot.app, bot.cli.run\n"
            f"print('HEAVY:' + ','.join(m for m in {heavy!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=120)
    assert "HEAVY:" in done.stdout, done.stdout + done.stderr
    assert done.stdout.split("HEAVY:")[1].strip() == "", done.stdout


def _private_part(dotted: str) -> bool:
    """Whether a dotted name has a private component (``_utils``; ``__future__`` and ``__init__`` are not)."""
    return any(part.startswith("_") and not part.endswith("__") for part in dotted.split("."))


@pytest.mark.parametrize("package", LAYERS)
def test_no_private_modules_of_other_packages(package):
    # Public APIs only: nothing like telegram.ext._updater or telegram.ext._utils.webhookhandler, neither as
    # `from telegram.ext._utils import x` nor as `from telegram.ext import _updater`.
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {module}{' ' + ', '.join(names) if names else ''}"
        for path in _modules(package)
        for module, names, line in _imports(path)
        if module.split(".")[0] not in LAYERS
        and (_private_part(module) or any(_private_part(name) for name in names))
    ]
    assert not wrong, "\n".join(wrong)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """Project module -> the project modules it imports, at the top or inside a function.

    ``from a import b`` is an edge to ``a.b`` when that is a module (a submodule imported by name), else to
    ``a``; ``import a.b.c`` to the deepest project module of the dotted name; relative imports are resolved.
    """
    paths = {_module_name(path): path for package in LAYERS for path in _modules(package)}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        named: list[str] = []
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                named += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if node.level:
                    package = name.split(".")[: len(name.split(".")) - node.level + (path.name == "__init__.py")]
                    module = ".".join(package + ([node.module] if node.module else []))
                named += [f"{module}.{alias.name}" if f"{module}.{alias.name}" in paths else module for alias in node.names]
        graph[name] = {target for dotted in named if (target := _deepest(dotted, paths)) and target != name}
    return graph


def _deepest(dotted: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of a dotted name that is a project module (None for a third-party one)."""
    parts = dotted.split(".")
    while parts and ".".join(parts) not in modules:
        parts.pop()
    return ".".join(parts) or None


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    """No two project modules import each other, directly or through others (imports inside functions count:
    a lazy import hides a cycle, it does not remove it)."""
    cycles = _cycles(_import_graph())
    assert not cycles, "\n".join(" ↔ ".join(c) for c in cycles)


def test_the_cycle_finder_sees_submodules_and_lazy_imports():
    graph = _import_graph()
    # analytics/__init__.py imports analytics.dataset inside a function: still an edge.
    assert "analytics.dataset" in graph["analytics"]
    # `from bot import callbacks` names a submodule: an edge to bot.callbacks, not to the package.
    assert "bot.callbacks" in graph["bot.admin.stats"] and "bot" not in graph["bot.admin.stats"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
