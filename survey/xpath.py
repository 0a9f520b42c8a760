"""The small part of XPath that XLSForm's ``relevant`` and ``constraint`` columns use, read into show_if conditions.

The subset: ``${q} = 'x'``, ``!=``, ``selected(${q}, 'x')``, ``not(…)``, ``and``, ``or``, comparisons of numbers
(``=  !=  <  <=  >  >=``), ``count-selected(${q})``, parentheses, references written ``${q}`` or ``../q`` (as
pyxform writes them for ``or_other``), and ``.`` (the question itself, in a constraint). Anything else is an
``XPathError`` saying what is not supported. ``parse`` gives the expression's tree; ``to_condition`` turns a
``relevant`` into a ``Condition`` and ``bounds`` a constraint into a number question's min and max.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import assert_never

from survey.model import CHOICE_TYPES, NUMERIC_TYPES, Condition, QuestionType


class XPathError(ValueError):
    """An expression outside the supported subset, or not an expression at all."""


@dataclass(frozen=True)
class Ref:
    name: str  # a question name; "." for the question itself


@dataclass(frozen=True)
class Literal:
    value: str | float


@dataclass(frozen=True)
class Selected:
    ref: Ref
    value: str


@dataclass(frozen=True)
class CountSelected:
    ref: Ref


@dataclass(frozen=True)
class Compare:
    op: str
    left: Term
    right: Term


@dataclass(frozen=True)
class Not:
    inner: Expr


@dataclass(frozen=True)
class Junction:
    op: str  # "and" | "or"
    parts: tuple[Expr, ...]


@dataclass(frozen=True)
class Paren:
    inner: Expr  # written in parentheses: kept apart when tests are merged (see _joined)


Term = Ref | Literal | CountSelected
Expr = Selected | Compare | Not | Junction | Paren | Term

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<ref>\$\{\s*(?P<refname>[A-Za-z_][\w.-]*)\s*\})
    | (?P<up>\.\./(?P<upname>[A-Za-z_][\w.-]*))
    | (?P<string>'[^']*'|"[^"]*")
    | (?P<number>\d+(?:\.\d+)?|\.\d+)
    | (?P<op>!=|>=|<=|=|>|<)
    | (?P<punct>[(),])
    | (?P<self>\.(?![\w.]))
    | (?P<name>[A-Za-z_][\w-]*(?::[\w-]+)?)
    | (?P<other>\S+?)
    )""", re.VERBOSE)

_FLIP = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            break
        pos = m.end()
        kind = m.lastgroup
        if kind in ("refname", "upname"):  # lastgroup names the innermost group
            kind = "ref" if kind == "refname" else "up"
        match kind:
            case "ref":
                out.append(("ref", m.group("refname")))
            case "up":
                out.append(("ref", m.group("upname")))
            case "string":
                out.append(("string", m.group("string")[1:-1]))
            case "number" | "op" | "punct" | "name":
                out.append((kind, m.group(kind)))
            case "self":
                out.append(("self", "."))
            case _:
                raise XPathError(f"'{m.group('other')}' is not part of the supported XPath")
    return out


class _Parser:
    """Recursive descent over the tokens: or_expr := and_expr ('or' and_expr)*; and_expr := comparison
    ('and' comparison)*; comparison := primary (op primary)?; primary := '(' or_expr ')' | function | term."""

    def __init__(self, text: str):
        self.tokens = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, kind: str, value: str | None = None) -> str:
        tok = self.peek()
        if tok is None or tok[0] != kind or (value is not None and tok[1] != value):
            wanted = f"'{value}'" if value else kind
            raise XPathError(f"expected {wanted} but found {repr(tok[1]) if tok else 'the end'}")
        self.i += 1
        return tok[1]

    def parse(self) -> Expr:
        if not self.tokens:
            raise XPathError("the expression is empty")
        expr = self.or_expr()
        if self.peek() is not None:
            raise XPathError(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return expr

    def junction(self, op: str, part: Callable[[], Expr]) -> Expr:
        parts = [part()]
        while self.peek() == ("name", op):
            self.i += 1
            parts.append(part())
        return parts[0] if len(parts) == 1 else Junction(op, tuple(parts))

    def or_expr(self) -> Expr:
        return self.junction("or", self.and_expr)

    def and_expr(self) -> Expr:
        return self.junction("and", self.comparison)

    def comparison(self) -> Expr:
        left = self.primary()
        tok = self.peek()
        if tok is None or tok[0] != "op":
            return left
        self.i += 1
        right = self.primary()
        left, right = _bare(left), _bare(right)
        if not isinstance(left, Ref | Literal | CountSelected) or not isinstance(right, Ref | Literal | CountSelected):
            raise XPathError(f"'{tok[1]}' compares answers and values, not conditions")
        return Compare(tok[1], left, right)

    def ref(self) -> Ref:
        tok = self.peek()
        if tok is not None and tok[0] == "self":
            self.i += 1
            return Ref(".")
        return Ref(self.take("ref"))

    def primary(self) -> Expr:
        tok = self.peek()
        if tok is None:
            raise XPathError("the expression ends too early")
        kind, value = tok
        if (kind, value) == ("punct", "("):
            self.i += 1
            inner = self.or_expr()
            self.take("punct", ")")
            return Paren(inner)
        if kind == "name":
            self.i += 1
            self.take("punct", "(")
            expr: Expr
            match value:
                case "not":
                    expr = Not(self.or_expr())
                case "selected":
                    ref = self.ref()
                    self.take("punct", ",")
                    expr = Selected(ref, self.take("string"))
                case "count-selected":
                    expr = CountSelected(self.ref())
                case _:
                    raise XPathError(f"the function {value}() is not supported (only selected, count-selected, not)")
            self.take("punct", ")")
            return expr
        self.i += 1
        match kind:
            case "ref":
                return Ref(value)
            case "self":
                return Ref(".")
            case "string":
                return Literal(value)
            case "number":
                return Literal(float(value))
        raise XPathError(f"unexpected {value!r}")


def _bare(expr: Expr) -> Expr:
    while isinstance(expr, Paren):
        expr = expr.inner
    return expr


def parse(text: str) -> Expr:
    """The tree of an expression in the subset (XPathError otherwise)."""
    return _Parser(text).parse()


def references(expr: Expr) -> list[str]:
    """The question names an expression refers to, in order ("." left out)."""
    match expr:
        case Ref(name):
            return [] if name == "." else [name]
        case Literal():
            return []
        case Selected(ref, _) | CountSelected(ref):
            return references(ref)
        case Compare(_, left, right):
            return references(left) + references(right)
        case Not(inner) | Paren(inner):
            return references(inner)
        case Junction(_, parts):
            return [name for part in parts for name in references(part)]
        case _ as unreachable:
            assert_never(unreachable)


def _number(lit: Literal) -> float:
    try:
        return float(lit.value)
    except ValueError:
        raise XPathError(f"'{lit.value}' is not a number") from None


def _numeric(name: str, op: str, value: float) -> Condition:
    """``answer op value`` for a whole-number answer, as a min/max test (the answer is an integer)."""
    low, high = math.ceil(value), math.floor(value)
    match op:
        case "=":
            return Condition(question=name, min=low, max=high) if low == high else _never(name)
        case "!=":
            return Condition.model_validate({"not": _numeric(name, "=", value).model_dump(exclude_none=True)})
        case ">":
            return Condition(question=name, min=high + 1)
        case ">=":
            return Condition(question=name, min=low)
        case "<":
            return Condition(question=name, max=low - 1)
        case "<=":
            return Condition(question=name, max=high)
    raise XPathError(f"unknown comparison {op}")


def _never(name: str) -> Condition:
    # A whole number never equals a fraction: an empty range.
    return Condition.model_validate({"all": [{"question": name, "min": 1}, {"question": name, "max": 0}]})


def _count(name: str, op: str, value: float) -> Condition:
    low, high = math.ceil(value), math.floor(value)
    match op:
        case "=":
            return Condition(question=name, selected_min=max(low, 0), selected_max=max(high, 0))
        case "!=":
            return Condition.model_validate({"not": _count(name, "=", value).model_dump(exclude_none=True)})
        case ">":
            return Condition(question=name, selected_min=max(high + 1, 0))
        case ">=":
            return Condition(question=name, selected_min=max(low, 0))
        case "<":
            return Condition(question=name, selected_max=max(low - 1, 0))
        case "<=":
            return Condition(question=name, selected_max=max(high, 0))
    raise XPathError(f"unknown comparison {op}")


TypeOf = Callable[[str], QuestionType | None]  # a question's type by name; None when it is not an earlier question


def to_condition(expr: Expr, type_of: TypeOf) -> Condition:
    """A ``relevant`` expression as a show_if condition (XPathError for what show_if cannot say)."""
    match expr:
        case Paren(inner):
            return to_condition(inner, type_of)
        case Junction(op, parts):
            return _joined(op, [(to_condition(p, type_of), isinstance(p, Paren)) for p in parts])
        case Not(inner):
            negated = to_condition(_bare(inner), type_of)
            tests = negated.model_dump(exclude_none=True, exclude={"question"})
            if negated.question is not None and list(tests) == ["any_of"]:
                return Condition(question=negated.question, none_of=negated.any_of)  # none_of is "not any of"
            return Condition.model_validate({"not": negated.model_dump(by_alias=True, exclude_none=True)})
        case Selected(ref, value):
            _choice(ref, type_of, "selected()")
            return Condition(question=ref.name, any_of=[value])
        case Compare(op, left, right):
            if isinstance(left, Literal) and not isinstance(right, Literal):
                left, right, op = right, left, _FLIP[op]
            if isinstance(left, CountSelected) and isinstance(right, Literal):
                _choice(left.ref, type_of, "count-selected()")
                return _count(left.ref.name, op, _number(right))
            if isinstance(left, Ref) and isinstance(right, Literal):
                return _compare(left, op, right, type_of)
            raise XPathError("a comparison must have a question on one side and a value on the other")
        case Ref() | Literal() | CountSelected():
            raise XPathError("a question or value alone is not a condition: compare it (= != < > …)")
        case _ as unreachable:
            assert_never(unreachable)


def _joined(op: str, conditions: list[tuple[Condition, bool]]) -> Condition:
    """``or`` / ``and`` of conditions, said the way show_if says it: tests of the same question merged where that
    means the same (``a = 'x' or a = 'y'`` is any_of [x, y]; ``a >= 1 and a <= 5`` is one test with min and max),
    unless one is written in parentheses of its own."""
    merged: list[Condition] = []
    apart = True
    for cond, parenthesized in conditions:
        last = merged[-1] if merged and not apart and not parenthesized else None
        apart = parenthesized
        if last is not None and last.question is not None and last.question == cond.question:
            a = last.model_dump(exclude_none=True, exclude={"question"})
            b = cond.model_dump(exclude_none=True, exclude={"question"})
            if op == "or" and list(a) == list(b) == ["any_of"]:
                merged[-1] = Condition(question=cond.question, any_of=[*a["any_of"], *b["any_of"]])
                continue
            if op == "and" and not set(a) & set(b):
                merged[-1] = Condition(question=cond.question, **a, **b)
                continue
            if op == "and" and list(a) == list(b) == ["none_of"]:
                merged[-1] = Condition(question=cond.question, none_of=[*a["none_of"], *b["none_of"]])
                continue
        merged.append(cond)
    if len(merged) == 1:
        return merged[0]
    return Condition.model_validate({"any" if op == "or" else "all": [c.model_dump(by_alias=True, exclude_none=True)
                                                                       for c in merged]})


def _known(ref: Ref, type_of: TypeOf) -> QuestionType:
    if ref.name == ".":
        raise XPathError("'.' (the question itself) belongs in a constraint, not in relevant")
    qtype = type_of(ref.name)
    if qtype is None:
        raise XPathError(f"${{{ref.name}}} is not an earlier question")
    return qtype


def _choice(ref: Ref, type_of: TypeOf, what: str) -> QuestionType:
    qtype = _known(ref, type_of)
    if qtype not in CHOICE_TYPES:
        raise XPathError(f"{what} needs a select question; ${{{ref.name}}} is not one")
    return qtype


def _compare(ref: Ref, op: str, lit: Literal, type_of: TypeOf) -> Condition:
    qtype = _known(ref, type_of)
    if isinstance(lit.value, str) and lit.value == "" and op in ("=", "!="):
        return Condition(question=ref.name, answered=op == "!=")
    if qtype in NUMERIC_TYPES:
        return _numeric(ref.name, op, _number(lit))
    if qtype == QuestionType.SINGLE:
        if op not in ("=", "!="):
            raise XPathError(f"'{op}' compares numbers; ${{{ref.name}}} is a select_one question")
        value = str(lit.value) if isinstance(lit.value, str) else f"{lit.value:g}"
        return Condition(question=ref.name, any_of=[value]) if op == "=" else Condition(question=ref.name, none_of=[value])
    if qtype == QuestionType.MULTIPLE:
        shown = lit.value if isinstance(lit.value, str) else f"{lit.value:g}"
        raise XPathError(f"${{{ref.name}}} is a select_multiple question: write selected(${{{ref.name}}}, '{shown}')")
    raise XPathError(f"${{{ref.name}}} is a text question: only = '' and != '' (answered or not) are supported")


def bounds(expr: Expr) -> tuple[int | None, int | None]:
    """A ``constraint`` like ``. >= 1 and . <= 100`` as (min, max) of a whole number (XPathError otherwise)."""
    low: int | None = None
    high: int | None = None
    expr = _bare(expr)
    parts = expr.parts if isinstance(expr, Junction) and expr.op == "and" else (expr,)
    for part in (_bare(p) for p in parts):
        if not isinstance(part, Compare):
            raise XPathError("only bounds like '. >= 1 and . <= 100' are supported in a constraint")
        left, op, right = part.left, part.op, part.right
        if isinstance(left, Literal):
            left, right, op = right, left, _FLIP[op]
        if left != Ref(".") or not isinstance(right, Literal):
            raise XPathError("only bounds like '. >= 1 and . <= 100' are supported in a constraint")
        cond = _numeric(".", op, _number(right))
        if cond.question is None or op == "!=":
            raise XPathError(f"'. {op} …' is not a bound")
        if cond.min is not None:
            low = cond.min if low is None else max(low, cond.min)
        if cond.max is not None:
            high = cond.max if high is None else min(high, cond.max)
    return low, high
