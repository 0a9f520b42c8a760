"""A questionnaire in several languages: which fields are texts, and how a file's texts are split by language.

In a questionnaire file any text field may be a single text (the default language's) or a mapping of language
codes to texts, ``{ru: Да, en: "Yes"}``. ``survey.model.Survey`` resolves every mapping to its default language
on load (so code that reads ``question.text`` sees one text) and keeps the others by a stable key
(``("option", question id, option id)``) for ``Survey.in_language``. This module works on the parsed file
(dicts and lists), so it imports nothing from the model.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from survey.i18n import CATALOG_LANGUAGES, N_, translator

LANGUAGE_PATTERN = r"^[a-z]{2,3}(?:-[a-z0-9]{2,8})*$"
LANGUAGE_RE = re.compile(LANGUAGE_PATTERN)
DEFAULT_LANGUAGE = "ru"

# The text fields of each part of a questionnaire (what a respondent or a researcher reads).
SURVEY_TEXTS = ("title", "intro_text", "thanks_text", "reminder_text", "other_label_default")
QUESTION_TEXTS = ("text", "title", "heading", "hint", "other_label")
OPTION_TEXTS = ("text",)
SCALE_TEXTS = ("min_label", "max_label")
CONSENT_TEXTS = ("text", "agree", "decline", "declined_text")  # survey.consent (its version is no text)

# The header texts a file may leave out: msgids of the bot's catalogs, said in each language the catalogs have
# (survey/i18n.py; a language without a catalog gets the default language's, else the English ones).
BUILTIN_MSGIDS: dict[str, str] = {
    "thanks_text": N_("Thank you! Your answers have been recorded."),
    "reminder_text": N_("You started the survey but did not finish it. The answers you gave are saved — carry on "
                        "from where you stopped whenever it suits you."),
    "other_label_default": N_("Other (please specify)"),
}


def builtin_texts(language: str) -> dict[str, str]:
    """The header texts a file may leave out, in ``language`` (the bot's catalogs)."""
    t = translator(language)
    return {key: t.gettext(msgid) for key, msgid in BUILTIN_MSGIDS.items()}


def builtin_for(language: str, default: str) -> dict[str, str]:
    """The texts in ``language`` when the bot's catalogs have it, else in ``default`` when they have that, else
    English."""
    if language.split("-")[0] in CATALOG_LANGUAGES:
        return builtin_texts(language.split("-")[0])
    return builtin_texts(default.split("-")[0] if default.split("-")[0] in CATALOG_LANGUAGES else "en")


# ("survey", field) | ("consent", field) | ("question", qid, field) | ("option", qid, option id) | ("scale", qid, field)
TextKey = tuple[str, ...]


@dataclass(frozen=True)
class TextField:
    """One text field present in a parsed file: its stable key, its path in the file, and its value as written."""

    key: TextKey
    path: tuple[Any, ...]
    value: Any

    @property
    def translated(self) -> bool:
        """Whether the value is a mapping of language codes to texts."""
        return isinstance(self.value, dict)


def text_fields(raw: Any) -> Iterator[TextField]:
    """Every text field present in a parsed questionnaire (mappings and plain texts), in file order."""
    if not isinstance(raw, dict):
        return
    meta = raw.get("survey")
    if isinstance(meta, dict):
        for f in SURVEY_TEXTS:
            if meta.get(f) is not None:
                yield TextField(("survey", f), ("survey", f), meta[f])
        consent = meta.get("consent")
        if isinstance(consent, dict):
            for f in CONSENT_TEXTS:
                if consent.get(f) is not None:
                    yield TextField(("consent", f), ("survey", "consent", f), consent[f])
    questions = raw.get("questions")
    if not isinstance(questions, list):
        return
    for i, q in enumerate(questions):
        if not isinstance(q, dict):
            continue
        qid = str(q.get("id", f"#{i + 1}"))
        for f in QUESTION_TEXTS:
            if q.get(f) is not None:
                yield TextField(("question", qid, f), ("questions", i, f), q[f])
        options = q.get("options")
        if isinstance(options, list):
            for j, o in enumerate(options):
                if isinstance(o, dict) and o.get("text") is not None:
                    yield TextField(("option", qid, str(o.get("id", f"#{j + 1}"))), ("questions", i, "options", j, "text"), o["text"])
        scale = q.get("scale")
        if isinstance(scale, dict):
            for f in SCALE_TEXTS:
                if scale.get(f) is not None:
                    yield TextField(("scale", qid, f), ("questions", i, "scale", f), scale[f])


def default_language(raw: Any) -> str:
    """The default language a parsed file names (``survey.language``), ``ru`` when it names none."""
    meta = raw.get("survey") if isinstance(raw, dict) else None
    lang = meta.get("language") if isinstance(meta, dict) else None
    return lang if isinstance(lang, str) and LANGUAGE_RE.match(lang) else DEFAULT_LANGUAGE


def declared_languages(raw: Any) -> list[str] | None:
    """The ``survey.languages`` list a file gives, if it gives a list."""
    meta = raw.get("survey") if isinstance(raw, dict) else None
    langs = meta.get("languages") if isinstance(meta, dict) else None
    return [str(x) for x in langs] if isinstance(langs, list) else None


def languages_of(raw: Any) -> list[str]:
    """The file's languages, default first: ``survey.languages`` when given, else every code its texts use."""
    default = default_language(raw)
    declared = declared_languages(raw)
    if declared is not None:
        return list(dict.fromkeys([default, *declared]))
    seen = [default]
    for field in text_fields(raw):
        if field.translated:
            seen += [str(k) for k in field.value]
    return list(dict.fromkeys(seen))


def pick(value: Any, language: str, fallbacks: list[str]) -> Any:
    """The text of one field in ``language``, else in the first fallback that has it (a plain text as it is)."""
    if not isinstance(value, dict):
        return value
    for lang in (language, *fallbacks):
        if lang in value:
            return value[lang]
    return next(iter(value.values()), None)


def _set(root: Any, path: tuple[Any, ...], value: Any) -> None:
    node = root
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def _copy_containers(raw: dict) -> dict:
    """A copy of the file's dicts and lists down to the text fields (other values shared, not copied)."""
    def copy(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: copy(v) for k, v in node.items()}
        if isinstance(node, list):
            return [copy(v) for v in node]
        return node
    return copy(raw)


def resolve(raw: Any, language: str) -> Any:
    """The parsed file with every text in ``language`` (falling back to the default language, then the others),
    and the header texts it leaves out in the bot's own words for that language."""
    if not isinstance(raw, dict):
        return raw
    langs = languages_of(raw)
    fallbacks = langs if language == langs[0] else [langs[0], *langs]
    out = _copy_containers(raw)
    for field in text_fields(raw):
        if field.translated:
            _set(out, field.path, pick(field.value, language, fallbacks))
    meta = out.get("survey")
    if isinstance(meta, dict):
        for key, text in builtin_for(language, langs[0]).items():
            meta.setdefault(key, text)
    return out


def translations(raw: Any) -> dict[str, dict[TextKey, str]]:
    """Per language other than the default, the texts the file gives in it (header defaults included)."""
    langs = languages_of(raw)
    out: dict[str, dict[TextKey, str]] = {lang: {} for lang in langs[1:]}
    for field in text_fields(raw):
        if field.translated:
            for lang, texts in out.items():
                text = field.value.get(lang)
                if isinstance(text, str) and text.strip():
                    texts[field.key] = text.strip()
    meta = raw.get("survey")
    for lang, texts in out.items():
        builtin = builtin_texts(lang.split("-")[0]) if lang.split("-")[0] in CATALOG_LANGUAGES else {}
        for key, text in builtin.items():
            if not isinstance(meta, dict) or meta.get(key) is None:
                texts[("survey", key)] = text
    return out
