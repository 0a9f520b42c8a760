"""What a new questionnaire file would do to the answers already stored (pure; no SQL here).

``compare(old, new, usage)`` lists every difference between the questionnaire the bot last ran
(``old``, None when the database has never recorded one) and ``new``, judged against what the
database holds (``usage``). Nothing stored is ever rewritten; the findings say how it will be read:

* ``BLOCKING`` — stored answers would be orphaned (a removed question or option still holding
  answers, a renamed id) or misread (a changed question type): the bot starts on such a file only
  with ``--accept-changes``;
* ``NOTICE`` — worth knowing, harmless to stored answers (a new question, respondents standing on
  a removed question who will continue at the next one, a removed question or option nobody answered);
* ``HARMLESS`` — wording only (a question or option text change).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import assert_never

from survey.model import CHOICE_TYPES, OTHER, Option, Question, QuestionType, Survey


class Severity(StrEnum):
    """How a change affects the stored answers."""

    BLOCKING = "blocking"
    NOTICE = "notice"
    HARMLESS = "harmless"


@dataclass(frozen=True)
class Change:
    """One finding: its kind, the question (and option) it concerns, and a sentence for the operator."""

    severity: Severity
    kind: str
    question: str
    message: str
    option: str | None = None


@dataclass
class Usage:
    """What the database holds for one survey id, per question id."""

    answered: dict[str, int] = field(default_factory=dict)  # non-skipped answer rows
    skipped: dict[str, int] = field(default_factory=dict)
    options: dict[str, dict[str, int]] = field(default_factory=dict)  # question -> option id -> selections
    numbers: dict[str, int] = field(default_factory=dict)  # answers holding a number
    texts: dict[str, int] = field(default_factory=dict)  # answers holding a free text
    standing: dict[str, int] = field(default_factory=dict)  # in-progress responses whose current question it is

    def held(self, qid: str) -> int:
        """Answer rows (skips included) stored for a question."""
        return self.answered.get(qid, 0) + self.skipped.get(qid, 0)


def _fits(q: Question, usage: Usage) -> bool:
    """Whether every stored non-skipped answer of q is of a shape its (new) type reads."""
    qid = q.id
    match q.type:  # a type without a case fails loudly (assert_never)
        case QuestionType.SINGLE | QuestionType.MULTIPLE:
            return not usage.numbers.get(qid) and not usage.texts.get(qid)
        case QuestionType.SCALE | QuestionType.NUMBER:
            return not usage.options.get(qid) and not usage.texts.get(qid)
        case QuestionType.TEXT:
            return not usage.options.get(qid) and not usage.numbers.get(qid)
        case _ as unreachable:
            assert_never(unreachable)


def _looks_same(a: Question, b: Question) -> bool:
    """Whether b is probably a (renamed) a: same type and the same text or the same option ids."""
    return a.type == b.type and (a.text == b.text or (bool(a.options) and a.option_ids == b.option_ids))


def compare(old: Survey | None, new: Survey, usage: Usage) -> list[Change]:
    """Every change from ``old`` to ``new`` and its effect on the stored answers, blocking ones first."""
    out: list[Change] = []
    new_ids = {q.id: q for q in new.questions}
    old_ids = {q.id: q for q in old.questions} if old else {}
    stored = {qid for qid in set(usage.answered) | set(usage.skipped) | set(usage.standing)}
    if old is None and not stored:
        return []  # a first start on an empty database: nothing to compare with
    gone = [qid for qid in list(old_ids) + sorted(stored - set(old_ids)) if qid not in new_ids]
    added = [q for q in new.questions if q.id not in old_ids and (old is not None or q.id not in stored)]
    for qid in gone:
        held, standing = usage.held(qid), usage.standing.get(qid, 0)
        twin = next((q for q in added if qid in old_ids and _looks_same(old_ids[qid], q)), None)
        if held and twin is not None:
            out.append(Change(Severity.BLOCKING, "renamed", qid,
                              f"question {qid} seems renamed to {twin.id}: its {held} stored answer(s) stay under "
                              f"{qid} (exports keep them; /stats lists them as «(removed from the questionnaire)») and do not "
                              f"count for {twin.id}"))
        elif held:
            out.append(Change(Severity.BLOCKING, "removed_question", qid,
                              f"question {qid} is removed but holds {held} stored answer(s): they stay stored and in "
                              f"exports, /stats lists them as «(removed from the questionnaire)»"))
        else:
            out.append(Change(Severity.NOTICE, "removed_question", qid, f"question {qid} is removed (no answers stored)"))
        if standing:
            out.append(Change(Severity.NOTICE, "stranded", qid,
                              f"{standing} in-progress respondent(s) stand on removed question {qid}: they continue "
                              f"at the next question they have not answered"))
    order = [q.id for q in new.questions]
    for q in added:
        past = sum(n for qid, n in usage.standing.items() if qid in new_ids and order.index(qid) > order.index(q.id))
        note = f"; {past} in-progress respondent(s) are already past it and will not be asked" if past else ""
        out.append(Change(Severity.NOTICE, "new_question", q.id,
                          f"new question {q.id}: in-progress respondents are asked it when they reach it{note}"))
    for q in new.questions:
        before = old_ids.get(q.id)
        if before is None and q.id not in stored:
            continue
        out += _question_changes(new, q, before, usage)
    rank = {Severity.BLOCKING: 0, Severity.NOTICE: 1, Severity.HARMLESS: 2}
    return sorted(out, key=lambda c: rank[c.severity])


def _question_changes(new: Survey, q: Question, before: Question | None, usage: Usage) -> list[Change]:
    out: list[Change] = []
    qid, answered = q.id, usage.answered.get(q.id, 0)
    if before is not None and before.type != q.type:
        severity = Severity.BLOCKING if answered else Severity.NOTICE
        out.append(Change(severity, "type_changed", qid,
                          f"question {qid} changes type from {before.type.value} to {q.type.value}"
                          + (f": {answered} stored answer(s) would be read as the new type" if answered else
                             " (no answers stored)")))
    elif answered and not _fits(q, usage):
        out.append(Change(Severity.BLOCKING, "type_changed", qid,
                          f"question {qid} is now {q.type.value}, but stored answers are of another type: "
                          f"they would be misread"))
    if before is not None and before.text != q.text:
        out.append(Change(Severity.HARMLESS, "text_changed", qid, f"question {qid}: wording changed"))
    if q.type not in CHOICE_TYPES:
        return out
    valid = set(q.option_ids) | ({OTHER} if q.other_allowed else set())
    old_options: dict[str, Option | None] = {o.id: o for o in before.options} if before is not None and before.type in CHOICE_TYPES else {}
    if before is not None and before.type in CHOICE_TYPES and before.other_allowed:
        old_options.setdefault(OTHER, None)
    counts = usage.options.get(qid, {})
    for oid in list(old_options) + sorted(set(counts) - set(old_options)):
        if oid in valid:
            continue
        n = counts.get(oid, 0)
        name = "the «other» answer" if oid == OTHER else f"option {oid}"
        if n:
            out.append(Change(Severity.BLOCKING, "removed_option", qid,
                              f"question {qid}: {name} is removed but was chosen {n} time(s): those answers stay "
                              f"stored and in exports, /stats counts them as «(removed from the questionnaire)»", oid))
        else:
            out.append(Change(Severity.NOTICE, "removed_option", qid, f"question {qid}: {name} is removed (never chosen)", oid))
    for o in q.options:
        prev = old_options.get(o.id)
        if prev is not None and prev.text != o.text:
            out.append(Change(Severity.HARMLESS, "option_text_changed", qid,
                              f"question {qid}: option {o.id} reworded (stored answers keep their option id)", o.id))
        elif o.id not in old_options and before is not None and before.type in CHOICE_TYPES:
            out.append(Change(Severity.NOTICE, "new_option", qid, f"question {qid}: new option {o.id}", o.id))
    if before is not None and before.type in CHOICE_TYPES and not before.other_allowed and q.other_allowed:
        out.append(Change(Severity.NOTICE, "new_option", qid, f"question {qid}: the «other» answer is now offered", OTHER))
    return out


def blocking(changes: list[Change]) -> list[Change]:
    """The changes that orphan or misread stored answers."""
    return [c for c in changes if c.severity == Severity.BLOCKING]


def report(changes: list[Change]) -> str:
    """The findings as plain text lines for the terminal."""
    if not changes:
        return "no changes that affect stored answers"
    titles = {Severity.BLOCKING: "Would orphan or misread stored answers (needs --accept-changes):",
              Severity.NOTICE: "Notices:", Severity.HARMLESS: "Harmless:"}
    lines: list[str] = []
    for severity in Severity:
        group = [c for c in changes if c.severity == severity]
        if group:
            lines.append(titles[severity])
            lines += [f"  - {c.message}" for c in group]
    return "\n".join(lines)
