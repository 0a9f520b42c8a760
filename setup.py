"""The build step that pyproject.toml cannot declare: compile the message catalogs before the package is built.

``pip install .`` and ``pip install -e .`` (so ``make setup`` too) run ``build_py``; here it first compiles every
``survey/locale/<lang>/LC_MESSAGES/surveybot.po`` to the ``.mo`` beside it (package data), with Babel, which
pyproject.toml lists under ``[build-system] requires``. Everything else is in pyproject.toml.
"""

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from setuptools import setup
from setuptools.command.build_py import build_py

LOCALE = Path(__file__).resolve().parent / "survey" / "locale"


def compile_catalogs(locale: Path = LOCALE) -> None:
    """Write the .mo of every .po under ``locale`` beside it."""
    for po in sorted(locale.glob("*/LC_MESSAGES/*.po")):
        with po.open("rb") as f:
            catalog = read_po(f, locale=po.parent.parent.name, domain=po.stem)
        with po.with_suffix(".mo").open("wb") as f:
            write_mo(f, catalog)


class BuildWithCatalogs(build_py):
    def run(self) -> None:
        compile_catalogs()
        super().run()


if __name__ == "__main__":  # setuptools runs this file as a script; tests import compile_catalogs
    setup(cmdclass={"build_py": BuildWithCatalogs})
