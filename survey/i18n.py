"""What the bot says, in the respondent's or the researcher's language: gettext message catalogs and numbers.

Every text the bot itself says (buttons, hints, errors, /stats, chart labels, export captions) is written in
the code as an English msgid and looked up in a message catalog managed with Babel:
``survey/locale/<lang>/LC_MESSAGES/surveybot.po`` (sources, in git) compiled to ``surveybot.mo`` at install
(``setup.py``'s build step, ``make setup``, or ``pybabel compile``). The questionnaire's own texts are not here:
they come from the questionnaire file in its languages.

    t = translator("ru")
    t.gettext("Back")                       # "Назад"
    t.ngettext("{n} answer", "{n} answers", n).format(n=n)
    t.percent(Decimal("54.5"))              # "54,5%" (ru), "54.5%" (en)

``translator`` is cached per language: a look-up is a dict access of the compiled catalog, the same cost as
the literal it replaced. A language without a catalog gets the English msgids. When a ``.mo`` is missing or
older than its ``.po`` (a checkout where nobody compiled yet, or a translator editing the ``.po``), the ``.po``
is read with Babel and compiled in memory instead, so the texts are never stale.

Strings are marked for ``pybabel extract`` (configured in ``pyproject.toml``, ``[tool.babel]``) by the calls
``t.gettext(...)``, ``t.ngettext(...)``, ``_(...)``, and ``N_(...)`` (a msgid kept as data, translated later).
"""

from __future__ import annotations

import functools
import gettext as gettext_module
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

DOMAIN = "surveybot"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
# The languages the bot's own texts ship in (a catalog each); other languages read the English msgids.
CATALOG_LANGUAGES = ("en", "ru")
# The language of a text when nobody chose one: the bundled study and the bot's first users are Russian.
FALLBACK_LANGUAGE = "ru"


def N_(message: str) -> str:
    """Mark ``message`` for extraction without translating it (a msgid kept in a table, translated at use)."""
    return message


@dataclass(frozen=True)
class Translator:
    """The bot's texts and number formats in one language."""

    language: str
    gettext: Callable[[str], str] = field(repr=False)
    ngettext: Callable[[str, str, int], str] = field(repr=False)

    @property
    def decimal_symbol(self) -> str:
        """The language's decimal sign ("," ru, "." en), from Babel's CLDR data at the first number formatted."""
        return _number_symbols(self.language)[0]

    @property
    def group_symbol(self) -> str:
        """The language's digit-group separator (a no-break space in ru, "," in en)."""
        return _number_symbols(self.language)[1]

    def decimal(self, value: Decimal | float | int | None, places: int = 1) -> str:
        """A number rounded half up to ``places`` decimals with the language's decimal sign ("6,3" / "6.3");
        "—" for None."""
        if value is None:
            return "—"
        exp = Decimal(1).scaleb(-places)
        text = str(Decimal(str(value)).quantize(exp, rounding=ROUND_HALF_UP))
        return text.replace(".", self.decimal_symbol)

    def percent(self, value: Decimal | float | int | None, places: int = 1) -> str:
        """A percentage given in percent units: 54.5 -> "54,5%" (ru), "54.5%" (en); "—" when undefined."""
        return "—" if value is None else f"{self.decimal(value, places)}%"

    def integer(self, value: int) -> str:
        """A whole number with the language's digit grouping: 40 000 (ru, a narrow space), 40,000 (en)."""
        return f"{value:,}".replace(",", self.group_symbol)

    def number(self, value: float | int | Decimal) -> str:
        """A number as short as it goes ("6", "6,25", "−1,5" with a typographic minus), for axis ticks."""
        return f"{value:g}".replace(".", self.decimal_symbol).replace("-", "−")


class LocalizedError(ValueError):
    """An error said to a person in their language: a msgid and its parameters, rendered by ``text(t)``;
    ``str()`` is the English text (logs and the operator's CLI)."""

    def __init__(self, message: str, **params: object):
        self.message, self.params = message, params
        super().__init__(self.text(translator("en")))

    def text(self, t: Translator) -> str:
        """The error in ``t``'s language."""
        return t.gettext(self.message).format(**self.params)


def _catalog_bytes(language: str) -> io.BytesIO | None:
    """The compiled catalog of ``language``: its ``.mo`` when up to date, else its ``.po`` compiled in memory."""
    folder = LOCALE_DIR / language / "LC_MESSAGES"
    po, mo = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
    if not po.exists():
        return None
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        return io.BytesIO(mo.read_bytes())
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as f:
        catalog = read_po(f, locale=language, domain=DOMAIN)
    out = io.BytesIO()
    write_mo(out, catalog)
    out.seek(0)
    return out


@functools.cache
def translator(language: str | None) -> Translator:
    """The translator of ``language`` (cached: built once per language per process). A language without a
    catalog reads the English msgids; None is the fallback language."""
    lang = language or FALLBACK_LANGUAGE
    data = _catalog_bytes(lang) if lang in CATALOG_LANGUAGES else None
    trans: gettext_module.NullTranslations = (
        gettext_module.GNUTranslations(data) if data is not None else gettext_module.NullTranslations())
    return Translator(lang, trans.gettext, trans.ngettext)


@functools.cache
def _number_symbols(language: str) -> tuple[str, str]:
    """The decimal sign and the digit-group separator of ``language`` from Babel's CLDR data ("," and a no-break
    space in ru, "." and "," in en; the English ones when Babel does not know the language)."""
    from babel import Locale, UnknownLocaleError
    from babel.numbers import get_decimal_symbol, get_group_symbol

    try:
        locale = Locale.parse(language.replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        return ".", ","
    return get_decimal_symbol(locale), get_group_symbol(locale)


def catalog_language(language: str | None) -> str:
    """``language`` when the bot's texts ship in it (``ru-RU`` -> ``ru``), else English."""
    base = (language or "").split("-")[0].split("_")[0].lower()
    return base if base in CATALOG_LANGUAGES else "en"


@functools.cache
def language_name(code: str) -> str:
    """A language's name in itself, capitalised («Русский», «English»), from Babel's CLDR data; the code itself
    when Babel does not know it."""
    from babel import Locale, UnknownLocaleError

    try:
        name = Locale.parse(code.replace("-", "_")).get_display_name(code.replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        return code
    return name[:1].upper() + name[1:] if name else code
