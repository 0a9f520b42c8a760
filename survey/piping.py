"""Piping and carry-forward: later questions that show or offer what the respondent answered before.

* Piping: ``{q03}`` in a question's text, hint or option text stands for the respondent's answer to
  q03 as they saw it (the option's label, the number, or their text), cut at ``PIPED_LIMIT``
  characters; ``{q03|ваша команда}`` names the text shown while q03 is skipped or not answered yet
  (without it, ``FALLBACK``). ``render`` substitutes plain text; the screen escapes the whole result,
  so whatever a respondent typed is shown as text, never as markup.
* Carry-forward: ``options_from: q02`` (or ``{question: q02, take: not_selected}``) makes a choice
  question offer only the options chosen (or not chosen) in the earlier multiple-choice q02. A
  skipped or unanswered source offers nothing. With nothing to offer the question is not applicable:
  it is passed over like a question hidden by ``show_if``, and not counted as skipped.

After «Назад», a changed answer is re-evaluated by ``survey.flow``: piped texts show the new answer (the
respondent walks forward through the later questions, answers kept); a carry-forward question whose offer
changed has its answer cleared, so the respondent is asked it again (and one with nothing left to offer
loses its answer, as a question hidden by ``show_if`` does). ``survey.loader`` refuses references to later,
unknown or wrong-type questions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Protocol, TypeVar

from survey.model import Question, Survey
from survey.text import clip


class Given(Protocol):
    """What piping reads of an answer (survey.flow.Answer, which imports this module)."""

    @property
    def option_ids(self) -> tuple[str, ...]: ...

    @property
    def skipped(self) -> bool: ...


Answer = TypeVar("Answer", bound=Given)

PIPE = re.compile(r"\{([a-z][a-z0-9_]{0,31})(?:\|([^{}]*))?\}")
PIPED_LIMIT = 100
FALLBACK = "—"




def pipes(text: str | None) -> Iterator[tuple[str, str | None]]:
    """The ``(question id, fallback or None)`` of every pipe in a text."""
    if not text or "{" not in text:
        return
    for m in PIPE.finditer(text):
        yield m.group(1), m.group(2)


def piped_texts(q: Question) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every text of a question that may hold pipes, with its path in the file (text, hint, options #i.text)."""
    yield ("text",), getattr(q, "text", None) or ""
    if getattr(q, "hint", None):
        yield ("hint",), q.hint or ""
    if getattr(q, "options_from", None) is None:  # carried-forward options are the source's, piped there
        for i, o in enumerate(q.options):
            text = getattr(o, "text", None)  # a file that failed validation may lack it
            if isinstance(text, str):
                yield ("options", i, "text"), text


def references(q: Question) -> set[str]:
    """The questions whose answers this question shows or offers."""
    out = {qid for _, text in piped_texts(q) for qid, _ in pipes(text)}
    rule = getattr(q, "options_from", None)
    if rule is not None:
        out.add(rule.question)
    return out


def render(text: str, survey: Survey, answers: Mapping[str, Answer], label: Callable[[Question, Answer], str]) -> str:
    """The text with each pipe replaced by the answer as the respondent saw it, or its fallback (plain text)."""
    if "{" not in text:
        return text

    def one(m: re.Match[str]) -> str:
        qid, fallback = m.group(1), m.group(2)
        answer = answers.get(qid)
        try:
            q: Question | None = survey.get(qid)
        except KeyError:
            q = None
        if q is None or answer is None or answer.skipped:
            return FALLBACK if fallback is None else fallback.strip()
        return clip(label(q, answer), PIPED_LIMIT)

    return PIPE.sub(one, text)


def offered(q: Question, answers: Mapping[str, Given]) -> set[str] | None:
    """The option ids a carry-forward question offers now (None when it is not one)."""
    rule = q.options_from
    if rule is None:
        return None
    source = answers.get(rule.question)
    if source is None or source.skipped:
        return set()
    chosen = set(source.option_ids)
    if rule.take == "selected":
        return {o.id for o in q.options if o.id in chosen}
    return {o.id for o in q.options if o.id not in chosen}


def not_applicable(q: Question, answers: Mapping[str, Given]) -> bool:
    """A carry-forward question with nothing to offer (passed over, not counted as skipped)."""
    ids = offered(q, answers)
    return ids is not None and not ids
