"""A safe filter language for catalog rows (``--where``), parsed by hand — never ``eval``.

Grammar (case-insensitive keywords)::

    expression := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | comparison
    comparison := operand (("==" | "!=" | "<" | "<=" | ">" | ">=") operand)? | "(" expression ")"
    operand    := COLUMN | NUMBER | 'string' | "string" | true | false | null

A bare column tests for a true, non-null value. Comparisons with a null are false (``!=`` is
true), as a missing metric should neither pass nor fail a threshold silently in the other
direction. Anything else — a function call, an attribute, an unknown column, unbalanced
parentheses — is a `WhereError` naming what and where. So are an expression longer than
`MAX_LENGTH` characters or nested (parentheses and ``not``s) deeper than `MAX_DEPTH`, and, when
the columns' kinds are known, a comparison of a column with a value of another kind
(``temporal_consistency > 'abc'``): it would select nothing, silently.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from catalogs.errors import CatalogError

Row = Mapping[str, Any]
Predicate = Callable[[Row], bool]

_TOKEN = re.compile(
    r"\s*(?:(?P<number>-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)"
    r"|(?P<string>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
    r"|(?P<op>==|!=|<=|>=|<|>|\(|\))"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<bad>\S))"
)
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_KEYWORDS = {"and", "or", "not", "true", "false", "null"}
MAX_LENGTH = 10_000
"""Characters in one expression: a filter is a line, not a program."""
MAX_DEPTH = 50
"""Nesting of parentheses and ``not``s: the parser and the predicate recurse once per level."""
KINDS = ("number", "string", "bool")
"""Column kinds a comparison is checked against; a column of unknown kind is not checked."""


class WhereError(CatalogError):
    """A ``--where`` expression that cannot be parsed or names an unknown column."""


def _tokens(text: str) -> list[tuple[str, str, int]]:
    tokens = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:  # only trailing whitespace is left
            break
        kind = match.lastgroup or "bad"
        value = match.group(kind)
        if kind == "bad":
            raise WhereError(f"--where: unexpected character {value!r} at position {match.start(kind)}")
        tokens.append((kind, value, match.start(kind)))
        position = match.end()
    return tokens


class _Operand:
    """A value read from a row, with its kind ("number", "string", "bool", "null" or None when
    unknown) and how the error messages name it."""

    def __init__(self, read: Callable[[Row], Any], kind: str | None, label: str) -> None:
        self.read, self.kind, self.label = read, kind, label


class _Parser:
    def __init__(self, text: str, columns: Mapping[str, str | None]) -> None:
        self.tokens = _tokens(text)
        self.index = 0
        self.columns = columns
        self.depth = 0

    def nested(self, position: int) -> None:
        """One level deeper (a '(' or a 'not'); `WhereError` past `MAX_DEPTH`."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise WhereError(f"--where: nested deeper than {MAX_DEPTH} levels at position {position}")

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> tuple[str, str, int]:
        token = self.peek()
        if token is None:
            raise WhereError("--where: the expression ends too early")
        self.index += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token and token[0] == "name" and token[1].lower() == word:
            self.index += 1
            return True
        return False

    def parse(self) -> Predicate:
        if not self.tokens:
            raise WhereError("--where: empty expression")
        predicate = self.or_()
        token = self.peek()
        if token is not None:
            what = "unbalanced ')'" if token[1] == ")" else f"unexpected {token[1]!r}"
            raise WhereError(f"--where: {what} at position {token[2]}")
        return predicate

    def or_(self) -> Predicate:
        parts = [self.and_()]
        while self.keyword("or"):
            parts.append(self.and_())
        return parts[0] if len(parts) == 1 else (lambda row: any(part(row) for part in parts))

    def and_(self) -> Predicate:
        parts = [self.not_()]
        while self.keyword("and"):
            parts.append(self.not_())
        return parts[0] if len(parts) == 1 else (lambda row: all(part(row) for part in parts))

    def not_(self) -> Predicate:
        token = self.peek()
        if self.keyword("not"):
            self.nested(token[2] if token else 0)
            inner = self.not_()
            self.depth -= 1
            return lambda row: not inner(row)
        return self.comparison()

    def comparison(self) -> Predicate:
        token = self.peek()
        if token is not None and token[1] == "(":
            self.take()
            self.nested(token[2])
            inner = self.or_()
            closing = self.peek()
            if closing is None or closing[1] != ")":
                raise WhereError(f"--where: unbalanced '(' at position {token[2]}")
            self.take()
            self.depth -= 1
            return inner
        left = self.operand()
        following = self.peek()
        if following is not None and following[1] in _COMPARE:
            operator_token = self.take()
            compare = _COMPARE[operator_token[1]]
            right = self.operand()
            _check_kinds(left, right, operator_token)
            read_left, read_right = left.read, right.read
            return lambda row: _compare(compare, read_left(row), read_right(row))
        read = left.read
        return lambda row: _truthy(read(row))

    def operand(self) -> _Operand:
        kind, value, position = self.take()
        if kind == "number":
            number = float(value) if any(c in value for c in ".eE") else int(value)
            return _Operand(lambda row: number, "number", value)
        if kind == "string":
            text = re.sub(r"\\(.)", r"\1", value[1:-1])
            return _Operand(lambda row: text, "string", value)
        if kind == "name":
            following = self.peek()
            if following is not None and following[1] == "(":
                raise WhereError(f"--where: function calls are not allowed ({value}( at position {position})")
            lowered = value.lower()
            if lowered in ("true", "false", "null"):
                constant = {"true": True, "false": False, "null": None}[lowered]
                return _Operand(lambda row: constant, "null" if constant is None else "bool", value)
            if lowered in _KEYWORDS:
                raise WhereError(f"--where: unexpected {value!r} at position {position}")
            if value not in self.columns:
                known = ", ".join(sorted(self.columns))
                raise WhereError(f"--where: unknown column {value!r}; known: {known}")
            return _Operand(lambda row: row.get(value), self.columns[value], value)
        raise WhereError(f"--where: unexpected {value!r} at position {position}")


def _check_kinds(left: _Operand, right: _Operand, operator_token: tuple[str, str, int]) -> None:
    """`WhereError` for a comparison of two known, different kinds (null compares with anything)."""
    kinds = {left.kind, right.kind}
    if None in kinds or "null" in kinds or len(kinds) == 1:
        return
    raise WhereError(
        f"--where: cannot compare {left.label} ({left.kind}) with {right.label} ({right.kind}) "
        f"at position {operator_token[2]}"
    )


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _compare(compare: Callable[[Any, Any], bool], left: Any, right: Any) -> bool:
    if _missing(left) or _missing(right):
        return compare is operator.ne and not (_missing(left) and _missing(right))
    try:
        return bool(compare(left, right))
    except TypeError:  # e.g. a string against a number: no row passes, none crashes the export
        return False


def _truthy(value: Any) -> bool:
    return not _missing(value) and bool(value)


def parse_where(text: str, columns: Iterable[str] | Mapping[str, str | None]) -> Predicate:
    """A predicate over row mappings for ``text``, checked against ``columns`` (names, or name →
    kind, one of `KINDS` or None, to type-check comparisons); `WhereError` otherwise."""
    if len(text) > MAX_LENGTH:
        raise WhereError(f"--where: expression of {len(text)} characters; at most {MAX_LENGTH}")
    kinds = dict(columns) if isinstance(columns, Mapping) else dict.fromkeys(columns)
    unknown = {kind for kind in kinds.values() if kind is not None and kind not in KINDS}
    if unknown:
        raise ValueError(f"column kinds must be one of {KINDS} or None, got {sorted(unknown)}")
    return _Parser(text, kinds).parse()
