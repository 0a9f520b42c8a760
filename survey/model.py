"""The questionnaire as data: question types, options, skip conditions.

A questionnaire file is validated as a whole by ``survey.loader``; the models here
also hold the per-question rules; answers are validated by ``survey.flow``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal, assert_never

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from survey import languages as lang
from survey.i18n import N_, translator
from survey.text import clip

# Ids travel inside Telegram callback data (64 bytes at most), so they stay short and plain.
ID_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
# The texts a questionnaire may leave out are msgids of the bot's catalogs (survey/i18n.py), said in each of its
# languages (survey/languages.py builtin_texts).
CONSENT_AGREE = N_("I agree, start")
CONSENT_DECLINE = N_("I do not agree")
CONSENT_DECLINED = N_("All right, thank you. We have stored nothing about you. If you change your mind, send /start.")
DEFAULT_OTHER_LABEL = lang.BUILTIN_MSGIDS["other_label_default"]
BUCKET_RE = re.compile(r"^(\d+)\s*(?:-\s*(\d+)|\+)$")


class QuestionType(StrEnum):
    """The reply types a question can ask for."""

    SINGLE = "single_choice"
    MULTIPLE = "multiple_choice"
    SCALE = "scale"
    NUMBER = "number"
    TEXT = "text"


@dataclass(frozen=True)
class TypeTraits:
    """What a question type's answer is and how it is given; the survey layer's one table of types."""

    choice: bool  # the answer is option ids (stored in answer_choices)
    numeric: bool  # the answer is a whole number (Answer.number)
    typed: bool  # the respondent types the answer in a message (no answer buttons)


def type_traits(qtype: QuestionType) -> TypeTraits:
    """The traits of a question type. A new type must get a case here: the table below is built at import."""
    match qtype:
        case QuestionType.SINGLE | QuestionType.MULTIPLE:
            return TypeTraits(choice=True, numeric=False, typed=False)
        case QuestionType.SCALE:
            return TypeTraits(choice=False, numeric=True, typed=False)
        case QuestionType.NUMBER:
            return TypeTraits(choice=False, numeric=True, typed=True)
        case QuestionType.TEXT:
            return TypeTraits(choice=False, numeric=False, typed=True)
        case _ as unreachable:
            assert_never(unreachable)


# Built at import from the exhaustive match above, so a type without traits stops the program at once.
TRAITS: dict[QuestionType, TypeTraits] = {t: type_traits(t) for t in QuestionType}
CHOICE_TYPES = tuple(t for t in QuestionType if TRAITS[t].choice)
NUMERIC_TYPES = tuple(t for t in QuestionType if TRAITS[t].numeric)  # scale and number


def _one_language(value: Any, info: ValidationInfo) -> Any:
    """A text given as ``{ru: …, en: …}`` outside a whole questionnaire: the validation context's language
    (``{"language": "en"}``), else the first one written. ``Survey`` resolves its texts itself before this runs."""
    if not isinstance(value, dict):
        return value
    wanted = (info.context or {}).get("language") if isinstance(info.context, dict) else None
    return lang.pick(value, wanted, []) if wanted else next(iter(value.values()), None)


# A text a respondent or researcher reads: one text, or a mapping of language codes to texts in a file.
# (Constraints go before it: Annotated[str, Field(...), ONE_LANGUAGE], so they read as string constraints.)
ONE_LANGUAGE = BeforeValidator(_one_language, json_schema_input_type=str | dict[str, str])
Text = Annotated[str, ONE_LANGUAGE]
LanguageCode = Annotated[str, Field(pattern=lang.LANGUAGE_PATTERN)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Option(_Strict):
    """One answer option of a choice question."""

    id: Annotated[str, Field(pattern=ID_PATTERN)]
    text: Annotated[str, Field(min_length=1, max_length=300), ONE_LANGUAGE]
    # Kept in its place when the question's options are shown in random order (e.g. «Затрудняюсь ответить»).
    fixed: bool = False
    provenance: str | None = None


class Scale(_Strict):
    """A numeric rating scale with labels at its ends."""

    min: int = 1
    max: int = 10
    min_label: Text | None = None
    max_label: Text | None = None

    @model_validator(mode="after")
    def _range(self) -> Scale:
        if self.max <= self.min:
            raise ValueError("scale.max must be greater than scale.min")
        if self.max - self.min > 10:
            raise ValueError("a scale may have at most 11 points (one button each)")
        return self


class Condition(_Strict):
    """Show a question only when an earlier answer matches (skip logic).

    A test of one question's answer (``question`` with any of the tests, all of which must hold), or a
    combination of conditions: ``any`` (one of them holds), ``all`` (each holds), ``not`` (it does not hold).
    """

    model_config = ConfigDict(populate_by_name=True)

    question: str | None = None
    any_of: list[str] | None = None
    none_of: list[str] | None = None
    min: int | None = None
    max: int | None = None
    answered: bool | None = None
    # How many options a choice answer has (0 when not answered): at least / at most.
    selected_min: Annotated[int, Field(ge=0)] | None = None
    selected_max: Annotated[int, Field(ge=0)] | None = None
    any: list[Condition] | None = None
    all: list[Condition] | None = None
    not_: Condition | None = Field(default=None, alias="not")

    @model_validator(mode="after")
    def _one_test(self) -> Condition:
        tests = (self.any_of, self.none_of, self.min, self.max, self.answered, self.selected_min, self.selected_max)
        combined = [name for name, v in (("any", self.any), ("all", self.all), ("not", self.not_)) if v is not None]
        if combined:
            if len(combined) > 1 or self.question is not None or any(v is not None for v in tests):
                raise ValueError("show_if: a condition is either a test of one question or one of any, all, not")
            if self.any == [] or self.all == []:
                raise ValueError(f"show_if.{combined[0]}: needs at least one condition")
            return self
        if self.question is None:
            raise ValueError("show_if needs a question (or any, all, not)")
        if all(v is None for v in tests):
            raise ValueError("show_if needs one of any_of, none_of, min, max, answered, selected_min, selected_max")
        return self

    def leaves(self) -> list[Condition]:
        """The tests of single questions inside this condition (itself when it is one)."""
        if self.question is not None:
            return [self]
        parts = self.any or self.all or ([self.not_] if self.not_ is not None else [])
        return [leaf for part in parts for leaf in part.leaves()]


class OptionsFrom(_Strict):
    """Carry-forward: a choice question offers the options chosen (or not chosen) in an earlier multiple choice."""

    question: str
    take: Literal["selected", "not_selected"] = "selected"


Provenance = Literal["published", "inferred", "assumed"]


class BaselineFigure(_Strict):
    """One figure of an earlier wave: the share as printed, its count, and where it comes from."""

    percent: Annotated[Decimal, Field(ge=0, le=100)]
    count: Annotated[int, Field(ge=0)]
    provenance: Provenance
    printed: str | None = None  # the figure exactly as the source printed it («14%»), when it differs

    @property
    def decimals(self) -> int:
        """How many decimals the percentage was given with (0 or 1)."""
        exponent = self.percent.as_tuple().exponent
        return max(0, -exponent) if isinstance(exponent, int) else 0


class Baseline(_Strict):
    """Published figures of an earlier wave of the same question, to compare the new answers with.

    ``options`` is keyed by option id (``other`` included) or, for a scale, by scale point;
    ``groups`` by a value range like ``4-7`` of a scale or number question.
    """

    wave: Annotated[str, Field(min_length=1, max_length=20)] = "2020"
    source: Annotated[str, Field(min_length=1)]
    respondents: Annotated[int, Field(ge=1)] | None = None  # the whole wave's respondents
    n: Annotated[int, Field(ge=1)]  # who answered this question in that wave
    n_provenance: Provenance = "published"
    options: dict[str, BaselineFigure] = Field(default_factory=dict)
    groups: dict[str, BaselineFigure] = Field(default_factory=dict)

    @field_validator("options", "groups", mode="before")
    @classmethod
    def _string_keys(cls, value: object) -> object:
        # YAML reads a scale point key like 1 as an int; the keys are ids, so strings.
        return {str(k): v for k, v in value.items()} if isinstance(value, dict) else value

    @staticmethod
    def group_bounds(key: str) -> tuple[int, int] | None:
        """A group key "4-7" (or "10") as (low, high); None when it is not a range."""
        m = re.fullmatch(r"\s*(-?\d+)\s*(?:[-–]\s*(-?\d+))?\s*", key)
        if not m:
            return None
        low = int(m.group(1))
        return low, int(m.group(2)) if m.group(2) else low


class Question(_Strict):
    """One question of the questionnaire."""

    id: Annotated[str, Field(pattern=ID_PATTERN)]
    number: int | None = None
    type: QuestionType
    text: Annotated[str, Field(min_length=1, max_length=3000), ONE_LANGUAGE]
    title: Text | None = None
    heading: Text | None = None
    hint: Text | None = None
    options: list[Option] = Field(default_factory=list)
    other_allowed: bool = False
    other_label: Text | None = None
    min_selected: int | None = None
    max_selected: int | None = None
    scale: Scale | None = None
    min: int | None = None
    max: int | None = None
    buckets: list[str] | None = None
    max_length: int = 1000
    required: bool = False
    show_if: list[Condition] = Field(default_factory=list)
    # Options in a random order per respondent (None: as the header's ``randomize`` says); see survey.randomize.
    randomize: bool | None = None
    # Carry-forward (survey.piping): the options are an earlier multiple choice's, only those chosen (or not).
    options_from: OptionsFrom | None = None
    # The options form a scale (frequency, size, detail): charts keep their order instead of ranking them.
    ordered: bool = False
    # Research metadata kept with the question; the bot does not use it.
    part: str | int | None = None
    provenance: str | None = None
    evidence: str | None = None
    examples: list[str] | None = None
    baseline: Baseline | None = None  # an earlier wave's published figures (survey.loader checks them)

    @field_validator("show_if", mode="before")
    @classmethod
    def _listify(cls, value: object) -> object:
        return [value] if isinstance(value, dict) else value

    @field_validator("options_from", mode="before")
    @classmethod
    def _source_only(cls, value: object) -> object:
        # `options_from: q02` is short for `options_from: {question: q02}`.
        return {"question": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _by_type(self) -> Question:
        problems: list[str] = []
        is_choice = self.type in CHOICE_TYPES
        if is_choice and not self.options and self.options_from is None:
            problems.append("options: a choice question needs at least one option")
        if not is_choice and self.options_from is not None:
            problems.append(f"options_from: not allowed for type {self.type.value} (only choice questions)")
        if not is_choice and self.randomize:
            problems.append(f"randomize: only the options of choice questions are shuffled, not {self.type.value}")
        if self.ordered and self.randomize:
            problems.append("randomize: the options of an ordered question form a scale and keep their order")
        if not is_choice and self.options:
            problems.append(f"options: not allowed for type {self.type.value}")
        if not is_choice and self.other_allowed:
            problems.append("other_allowed: only choice questions can have an 'other' answer")
        ids = [o.id for o in self.options]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            problems.append(f"options: duplicate option id(s) {', '.join(dupes)}")
        if "other" in ids:
            problems.append("options: the id 'other' is reserved for the 'other' answer")
        if self.type == QuestionType.SCALE and self.scale is None:
            problems.append("scale: a scale question needs scale.min and scale.max")
        if self.type != QuestionType.SCALE and self.scale is not None:
            problems.append(f"scale: not allowed for type {self.type.value}")
        if self.type != QuestionType.MULTIPLE and (self.min_selected or self.max_selected):
            problems.append("min_selected/max_selected: only for multiple_choice")
        if self.type == QuestionType.MULTIPLE and (self.options or self.options_from is None):
            n = len(self.options) + (1 if self.other_allowed else 0)
            lo, hi = self.min_selected or 1, self.max_selected or n
            if lo < 1 or hi < lo or hi > n:
                problems.append(f"min_selected/max_selected: need 1 <= min <= max <= {n}")
        if self.type != QuestionType.NUMBER and (self.min is not None or self.max is not None):
            problems.append("min/max: only for number questions (scales use scale.min/max)")
        if self.type == QuestionType.NUMBER and self.min is not None and self.max is not None and self.max < self.min:
            problems.append("max: must not be below min")
        if self.buckets is not None:
            if self.type != QuestionType.NUMBER:
                problems.append("buckets: only for number questions")
            for b in self.buckets:
                if not BUCKET_RE.match(str(b)):
                    problems.append(f"buckets: '{b}' is not like '1-5' or '101+'")
        if not 1 <= self.max_length <= 4000:
            problems.append("max_length: must be between 1 and 4000")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def short_title(self) -> str:
        """A short name for summaries: the title, the heading, or the text's start."""
        text = self.title or self.heading or self.text
        return clip(text, 80)

    @property
    def option_ids(self) -> list[str]:
        """Option ids in questionnaire order (without 'other')."""
        return [o.id for o in self.options]

    def option(self, option_id: str) -> Option | None:
        """The option with this id, if any."""
        return next((o for o in self.options if o.id == option_id), None)

    def option_label(self, option_id: str, other_label: str) -> str:
        """The respondent-facing label of an option id, 'other' included."""
        if option_id == OTHER:
            return other_label
        opt = self.option(option_id)
        return opt.text if opt else option_id

    def bucket_bounds(self) -> list[tuple[str, int, int | None]]:
        """Number buckets as (label, low, high or None for open-ended)."""
        out = []
        for b in self.buckets or []:
            m = BUCKET_RE.match(str(b))
            assert m  # validated on load
            out.append((str(b), int(m.group(1)), int(m.group(2)) if m.group(2) else None))
        return out


OTHER = "other"
DEFAULT_REMINDER_TEXT = lang.BUILTIN_MSGIDS["reminder_text"]


class Consent(_Strict):
    """The consent step before the first question: its text, its two buttons, and the text's version.

    With it, nothing about a respondent is stored before they agree; a decline only adds one to a counter.
    """

    text: Annotated[str, Field(min_length=1, max_length=3500), ONE_LANGUAGE]
    # Unset: the bot's words in the questionnaire's default language (survey/i18n.py catalogs).
    agree: Annotated[str, Field(min_length=1, max_length=40), ONE_LANGUAGE] = Field(
        default_factory=lambda: translator(lang.DEFAULT_LANGUAGE).gettext(CONSENT_AGREE))
    decline: Annotated[str, Field(min_length=1, max_length=40), ONE_LANGUAGE] = Field(
        default_factory=lambda: translator(lang.DEFAULT_LANGUAGE).gettext(CONSENT_DECLINE))
    # Stored with every response that agreed to it: change it whenever the text changes (any language's).
    version: Annotated[str, Field(min_length=1, max_length=64)]
    declined_text: Annotated[str, Field(min_length=1, max_length=1000), ONE_LANGUAGE] = Field(
        default_factory=lambda: translator(lang.DEFAULT_LANGUAGE).gettext(CONSENT_DECLINED))


class SurveyMeta(_Strict):
    """The questionnaire's header."""

    id: Annotated[str, Field(pattern=ID_PATTERN)]
    version: Annotated[int, Field(ge=1)] = 1
    title: Annotated[str, Field(min_length=1), ONE_LANGUAGE]
    intro_text: Text = ""
    thanks_text: Text = Field(default_factory=lambda: lang.builtin_texts(lang.DEFAULT_LANGUAGE)["thanks_text"])
    # The reminder sent to a respondent who stopped half-way (REMIND_AFTER), above a «Продолжить» button.
    reminder_text: Annotated[str, Field(min_length=1, max_length=1000), ONE_LANGUAGE] = Field(
        default_factory=lambda: lang.builtin_texts(lang.DEFAULT_LANGUAGE)["reminder_text"])
    # The default language: the texts written without a language, and the fallback of a missing translation.
    language: LanguageCode = lang.DEFAULT_LANGUAGE
    # Every language the questionnaire is written in (default first); filled from the texts when not given.
    languages: list[LanguageCode] = Field(default_factory=list)
    other_label_default: Text = Field(
        default_factory=lambda: lang.builtin_texts(lang.DEFAULT_LANGUAGE)["other_label_default"])
    author: str | None = None
    published_in: str | None = None
    questions_total: int | None = None
    # Field operations: when the survey takes new respondents, and how many completed responses close it.
    # A date without a zone is read in the bot's TIMEZONE.
    opens_at: datetime | None = None
    closes_at: datetime | None = None
    quota: Annotated[int, Field(ge=1)] | None = None
    # Every choice question's options in a random order per respondent, unless the question says
    # `randomize: false` or is `ordered` (survey.randomize).
    randomize: bool = False
    # The parts (the questions' `part`) whose questions are asked in a random order per respondent.
    randomize_questions: list[str | int] = Field(default_factory=list)
    consent: Consent | None = None  # ask for consent before the first question (and store nothing before it)

    @model_validator(mode="after")
    def _dates(self) -> SurveyMeta:
        a, b = self.opens_at, self.closes_at
        if a is not None and b is not None and (a.tzinfo is None) == (b.tzinfo is None) and b <= a:
            raise ValueError("closes_at must be after opens_at")
        return self


class Translations:
    """A questionnaire's texts in its languages other than the default, by stable key (``survey.languages``),
    and the translated questionnaires built from them (one per source questionnaire and language)."""

    def __init__(self, texts: dict[str, dict[lang.TextKey, str]]):
        self.texts = texts
        self.built: dict[tuple[int, str], tuple[Survey, Survey]] = {}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Translations) and self.texts == other.texts

    __hash__ = None  # type: ignore[assignment]


class Survey(_Strict):
    """A whole questionnaire: header plus ordered questions.

    Its texts are in the default language; ``in_language(code)`` gives the same questionnaire in another of
    its ``languages``.
    """

    survey: SurveyMeta
    questions: list[Question]
    _translations: Translations | None = PrivateAttr(default=None)
    _origin: Survey | None = PrivateAttr(default=None)  # the default-language questionnaire of a translation

    @model_validator(mode="wrap")
    @classmethod
    def _languages(cls, data: Any, handler: Any) -> Survey:
        # Every text written as {ru: …, en: …} is read in the default language; the others are kept aside.
        if not isinstance(data, dict):
            return handler(data)
        codes = lang.languages_of(data)
        resolved = lang.resolve(data, codes[0])
        meta = resolved.get("survey")
        if isinstance(meta, dict) and not meta.get("languages"):
            meta["languages"] = codes
        survey: Survey = handler(resolved)
        texts = lang.translations(data)
        if texts:
            survey._translations = Translations(texts)
        return survey

    @model_validator(mode="after")
    def _carry_forward(self) -> Survey:
        # A question with `options_from` and no options of its own takes its source's options (the exports,
        # codebook and summaries then see them as its own). A wrong source is reported by survey.loader.
        by_id = {q.id: q for q in self.questions if isinstance(q, Question)}
        for i, q in enumerate(self.questions):
            if not isinstance(q, Question) or q.options_from is None or q.options:
                continue
            source = by_id.get(q.options_from.question)
            if source is not None and source.type == QuestionType.MULTIPLE:
                self.questions[i] = q.model_copy(update={"options": list(source.options)})
        return self

    @property
    def id(self) -> str:
        return self.survey.id

    @property
    def version(self) -> int:
        return self.survey.version

    def index(self, question_id: str) -> int:
        """Position (0-based) of a question id; KeyError when unknown."""
        for i, q in enumerate(self.questions):
            if q.id == question_id:
                return i
        raise KeyError(question_id)

    def get(self, question_id: str) -> Question:
        """The question with this id; KeyError when unknown."""
        return self.questions[self.index(question_id)]

    def number(self, question_id: str) -> int:
        """The question's number as the respondent sees it ("Вопрос N из M")."""
        q = self.get(question_id)
        return q.number if q.number is not None else self.index(question_id) + 1

    def other_label(self, question: Question) -> str:
        """The label of the 'other' answer of a question."""
        return question.other_label or self.survey.other_label_default

    @property
    def default_language(self) -> str:
        """The language of the questionnaire's own texts (and of every missing translation)."""
        return self.survey.language

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages the questionnaire is written in, the default first."""
        return tuple(dict.fromkeys([self.survey.language, *self.survey.languages]))

    def language_for(self, code: str | None) -> str:
        """The questionnaire's language closest to ``code`` (``en-US`` → ``en``); the default when it has none."""
        meta = self.survey
        if code == meta.language or (code and code in meta.languages):  # the usual case, asked on every reply
            return code
        if code:
            code = code.strip().lower().replace("_", "-")
            for candidate in (code, code.split("-")[0]):
                if candidate in self.languages:
                    return candidate
        return self.default_language

    def in_language(self, code: str) -> Survey:
        """The same questionnaire (ids, numbers, conditions, baselines) with its texts in ``code``; a text
        not translated stays in the default language, an unknown code gives the default-language questionnaire."""
        origin: Survey = self._origin or self
        language = origin.language_for(code)
        translations = origin._translations
        if language == origin.default_language or translations is None:
            return origin
        key = (id(origin), language)
        built = translations.built.get(key)
        if built is None or built[0] is not origin:
            built = (origin, origin._translated(translations.texts.get(language, {})))
            translations.built[key] = built
        return built[1]

    def _translated(self, texts: dict[lang.TextKey, str]) -> Survey:
        def update(obj: BaseModel, fields: tuple[str, ...], key: tuple[str, ...]) -> dict[str, str]:
            return {f: texts[(*key, f)] for f in fields if (*key, f) in texts and getattr(obj, f) is not None}

        questions = []
        for q in self.questions:
            changes: dict[str, Any] = update(q, lang.QUESTION_TEXTS, ("question", q.id))
            # Carried-forward options are the source's: translated as the source's are.
            owner = q.options_from.question if q.options_from is not None else q.id
            options = [o.model_copy(update={"text": texts[("option", owner, o.id)]}) if ("option", owner, o.id) in texts
                       else o for o in q.options]
            if options != q.options:
                changes["options"] = options
            if q.scale is not None and (scale := update(q.scale, lang.SCALE_TEXTS, ("scale", q.id))):
                changes["scale"] = q.scale.model_copy(update=scale)
            questions.append(q.model_copy(update=changes) if changes else q)
        meta_changes: dict[str, Any] = update(self.survey, lang.SURVEY_TEXTS, ("survey",))
        consent = self.survey.consent
        if consent is not None and (consent_texts := update(consent, lang.CONSENT_TEXTS, ("consent",))):
            meta_changes["consent"] = consent.model_copy(update=consent_texts)
        meta = self.survey.model_copy(update=meta_changes)
        out: Survey = self.model_copy(update={"survey": meta, "questions": questions})
        out._origin = self
        return out
