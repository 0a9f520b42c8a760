"""Random order of options and of questions, drawn once per respondent: a pure function of a seed.

Each response stores one seed (``responses.order_seed``); the order of a question's options is
``option_order(question, seed)`` and the order of the questions is ``question_order(survey, seed)``, so
the same respondent sees the same order after «Назад», a restart of the bot, a redraw or a reminder,
without the orders themselves being kept anywhere but with the answers (``answers.option_order``).

* Options: a question is shuffled when it says ``randomize: true``, or the header says ``randomize: true``
  and the question neither says ``randomize: false`` nor is ``ordered`` (its options form a scale).
  Options marked ``fixed: true`` keep their places; the others are shuffled among the remaining places
  (a uniform random permutation). The «other» answer is always the last button.
* Questions: the questions of each part named in the header's ``randomize_questions`` are shuffled among
  their own places; the parts stay where they are. ``survey.loader`` refuses a part whose questions depend
  on one another (``show_if``, piping, ``options_from``), whose order would then matter.

The random numbers come from ``random.Random`` seeded with the text ``"<seed>:<question id>"`` (SHA-512
of the text, the same in every Python version), so two questions of one respondent are independent.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence

from survey.model import CHOICE_TYPES, Option, Question, Survey

SEED_BITS = 48  # a response's seed: a random non-negative integer below 2**48 (fits a BIGINT)


def randomized(survey: Survey, q: Question) -> bool:
    """Whether the question's options are shown in a random order."""
    if q.type not in CHOICE_TYPES:
        return False
    if q.randomize is not None:
        return q.randomize
    return survey.survey.randomize and not q.ordered


def _rng(seed: int, key: str) -> random.Random:
    return random.Random(f"{seed}:{key}")


@functools.lru_cache(maxsize=8192)
def _permutation(seed: int, key: str, n: int) -> tuple[int, ...]:
    """``range(n)`` shuffled for ``seed`` and ``key``: a question's order is asked for on every screen of it, and
    seeding a generator costs more than the rest of the screen's options (remembered for the latest 8,192)."""
    order = list(range(n))
    _rng(seed, key).shuffle(order)
    return tuple(order)


def shuffle_fixed(items: Sequence[Option], seed: int, key: str) -> list[Option]:
    """``items`` with the non-fixed ones shuffled among their places (fixed ones stay), for ``seed`` and ``key``."""
    free = [i for i, o in enumerate(items) if not o.fixed]
    kept = [items[i] for i in free]
    moved = [kept[j] for j in _permutation(seed, key, len(kept))]  # what shuffle(kept) gives: a shuffle moves places
    out = list(items)
    for place, option in zip(free, moved, strict=True):
        out[place] = option
    return out


def option_order(survey: Survey, q: Question, seed: int) -> list[Option]:
    """The question's options in the order this respondent sees them (questionnaire order when not randomized)."""
    if not randomized(survey, q):
        return q.options
    return shuffle_fixed(q.options, seed, q.id)


def question_order(survey: Survey, seed: int) -> list[Question]:
    """The questions in the order this respondent is asked them (parts in ``randomize_questions`` shuffled)."""
    parts = survey.survey.randomize_questions
    if not parts:
        return survey.questions
    wanted = {str(p) for p in parts}
    out = list(survey.questions)
    for part in wanted:
        places = [i for i, q in enumerate(out) if q.part is not None and str(q.part) == part]
        members = [out[i] for i in places]
        _rng(seed, f"part:{part}").shuffle(members)
        for place, q in zip(places, members, strict=True):
            out[place] = q
    return out


def shuffled_questions(survey: Survey) -> set[str]:
    """Ids of the questions whose place is drawn per respondent."""
    wanted = {str(p) for p in survey.survey.randomize_questions}
    return {q.id for q in survey.questions if q.part is not None and str(q.part) in wanted}
