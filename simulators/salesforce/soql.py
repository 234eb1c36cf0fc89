"""A SOQL subset: tokenizer and recursive-descent parser producing a small syntax tree.

Grammar (keywords and names are case-insensitive, as in Salesforce):

    query      := SELECT (COUNT '(' ')' | field (',' field)*) FROM name
                  [WHERE condition] [ORDER BY order (',' order)*] [LIMIT integer]
    condition  := [NOT] term ((AND term)* | (OR term)*)      -- AND and OR never mix unparenthesised
    term       := '(' condition ')' | field op literal | field [NOT] IN '(' literal (',' literal)* ')'
                  | field LIKE string
    order      := field [ASC | DESC] [NULLS (FIRST | LAST)]
    literal    := 'string' | number | true | false | null | date | datetime

Meaning (which object, which fields, what types) is checked by the query planner, not here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from simulators.salesforce.values import BadValue, parse_datetime

KEYWORDS = frozenset(
    (
        "SELECT",
        "FROM",
        "WHERE",
        "AND",
        "OR",
        "NOT",
        "IN",
        "LIKE",
        "ORDER",
        "BY",
        "ASC",
        "DESC",
        "NULLS",
        "FIRST",
        "LAST",
        "LIMIT",
        "COUNT",
        "TRUE",
        "FALSE",
        "NULL",
        "GROUP",
        "HAVING",
        "OFFSET",
        "WITH",
        "FOR",
        "USING",
    )
)
COMPARISONS = frozenset({"=", "!=", "<>", "<", "<=", ">", ">="})
# Lexing single literals with anchored patterns is fine; the grammar itself is parsed by hand.
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?![\d:])")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:\d{2})")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_STRING_ESCAPES = {
    "'": "'",
    '"': '"',
    "\\": "\\",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "b": "\b",
    "f": "\f",
    "_": "\\_",
    "%": "\\%",
}


class SoqlError(Exception):
    """A query Salesforce would refuse; `code` is its errorCode (MALFORMED_QUERY, INVALID_FIELD, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Token:
    kind: str  # NAME, KEYWORD, STRING, NUMBER, DATE, DATETIME, OP, PUNCT, END
    text: str
    value: Any
    column: int  # 1-based, as Salesforce counts


@dataclass(frozen=True)
class Literal:
    kind: str  # string, number, boolean, null, date, datetime
    value: Any
    column: int


@dataclass(frozen=True)
class FieldRef:
    name: str
    column: int


@dataclass(frozen=True)
class Comparison:
    field: FieldRef
    op: str
    value: Literal


@dataclass(frozen=True)
class InList:
    field: FieldRef
    values: tuple[Literal, ...]
    negated: bool


@dataclass(frozen=True)
class Like:
    field: FieldRef
    pattern: Literal


@dataclass(frozen=True)
class BoolOp:
    op: str  # AND or OR
    terms: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    term: Condition


Condition = Comparison | InList | Like | BoolOp | Not


@dataclass(frozen=True)
class OrderItem:
    field: FieldRef
    descending: bool
    nulls_first: bool


@dataclass(frozen=True)
class Query:
    text: str
    count: bool
    fields: tuple[FieldRef, ...]
    sobject: FieldRef
    where: Condition | None
    order_by: tuple[OrderItem, ...]
    limit: int | None


def malformed(text: str, column: int, problem: str, code: str = "MALFORMED_QUERY") -> SoqlError:
    """Salesforce's message shape: the query, a caret under the column, the position, the problem."""
    line = " ".join(text.split("\n"))
    caret = " " * max(0, column - 1) + "^"
    return SoqlError(code, f"\n{line}\n{caret}\nERROR at Row:1:Column:{column}\n{problem}")


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char.isspace():
            i += 1
            continue
        column = i + 1
        if char == "'":
            value, i = _string(text, i)
            tokens.append(Token("STRING", text[column - 1 : i], value, column))
            continue
        if char.isdigit() or (char == "-" and i + 1 < n and text[i + 1].isdigit()):
            token, i = _number_or_date(text, i)
            tokens.append(token)
            continue
        name = _NAME.match(text, i)
        if name:
            word = name.group()
            kind = "KEYWORD" if word.upper() in KEYWORDS else "NAME"
            tokens.append(Token(kind, word, word.upper() if kind == "KEYWORD" else word, column))
            i = name.end()
            continue
        two = text[i : i + 2]
        if two in COMPARISONS:
            tokens.append(Token("OP", two, "!=" if two == "<>" else two, column))
            i += 2
            continue
        if char in "=<>":
            tokens.append(Token("OP", char, char, column))
            i += 1
            continue
        if char in "(),":
            tokens.append(Token("PUNCT", char, char, column))
            i += 1
            continue
        raise malformed(text, column, f"unexpected token: '{char}'")
    tokens.append(Token("END", "", None, n + 1))
    return tokens


def _string(text: str, start: int) -> tuple[str, int]:
    out = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == "\\":
            if i + 1 >= len(text) or text[i + 1] not in _STRING_ESCAPES:
                raise malformed(text, i + 1, "Invalid string literal: an unknown escape sequence")
            out.append(_STRING_ESCAPES[text[i + 1]])
            i += 2
            continue
        if char == "'":
            return "".join(out), i + 1
        out.append(char)
        i += 1
    raise malformed(text, start + 1, "line 1:" + str(start) + " mismatched character '<EOF>' expecting '''")


def _number_or_date(text: str, i: int) -> tuple[Token, int]:
    column = i + 1
    stamp = _DATETIME.match(text, i)
    if stamp:
        try:
            return Token("DATETIME", stamp.group(), parse_datetime(stamp.group()), column), stamp.end()
        except BadValue:
            raise malformed(text, column, f"line 1:{i} no viable alternative at character '{stamp.group()}'") from None
    day = _DATE.match(text, i)
    if day:
        return Token("DATE", day.group(), day.group(), column), day.end()
    number = _NUMBER.match(text, i)
    assert number is not None  # we only get here on a digit or a minus before a digit
    raw = number.group()
    end = number.end()
    if end < len(text) and (text[end].isalpha() or text[end] in "_:-"):
        raise malformed(text, column, f"unexpected token: '{text[i : end + 1]}'")
    value: int | float = float(raw) if "." in raw else int(raw)
    return Token("NUMBER", raw, value, column), end


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.at = 0

    # --- token helpers ---------------------------------------------------------------
    @property
    def token(self) -> Token:
        return self.tokens[self.at]

    def advance(self) -> Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def is_keyword(self, *words: str) -> bool:
        return self.token.kind == "KEYWORD" and self.token.value in words

    def accept_keyword(self, *words: str) -> Token | None:
        return self.advance() if self.is_keyword(*words) else None

    def expect_keyword(self, word: str) -> Token:
        if not self.is_keyword(word):
            raise self.unexpected()
        return self.advance()

    def expect_punct(self, char: str) -> Token:
        if self.token.kind != "PUNCT" or self.token.value != char:
            raise self.unexpected()
        return self.advance()

    def unexpected(self) -> SoqlError:
        token = self.token
        if token.kind == "END":
            return malformed(self.text, token.column, "unexpected token: <EOF>")
        return malformed(self.text, token.column, f"unexpected token: '{token.text}'")

    # --- grammar -----------------------------------------------------------------------
    def query(self) -> Query:
        self.expect_keyword("SELECT")
        count, fields = self.select_list()
        self.expect_keyword("FROM")
        sobject = self.name()
        where = None
        if self.accept_keyword("WHERE"):
            where = self.condition()
        order: tuple[OrderItem, ...] = ()
        if self.accept_keyword("ORDER"):
            self.expect_keyword("BY")
            order = self.order_list()
        limit = None
        if self.accept_keyword("LIMIT"):
            token = self.advance()
            if token.kind != "NUMBER" or not isinstance(token.value, int) or token.value < 0:
                self.at -= 1
                raise self.unexpected()
            limit = token.value
        if self.token.kind != "END":
            raise self.unexpected()
        return Query(self.text, count, fields, sobject, where, order, limit)

    def select_list(self) -> tuple[bool, tuple[FieldRef, ...]]:
        if self.is_keyword("COUNT"):
            self.advance()
            self.expect_punct("(")
            if self.token.kind != "PUNCT" or self.token.value != ")":
                raise malformed(
                    self.text,
                    self.token.column,
                    "aggregate functions other than COUNT() are not supported by this simulator",
                )
            self.advance()
            return True, ()
        fields = [self.name()]
        while self.token.kind == "PUNCT" and self.token.value == ",":
            self.advance()
            fields.append(self.name())
        return False, tuple(fields)

    def name(self) -> FieldRef:
        token = self.token
        if token.kind != "NAME":
            raise self.unexpected()
        self.advance()
        return FieldRef(token.text, token.column)

    def condition(self) -> Condition:
        negate = self.accept_keyword("NOT")
        first = self.term()
        if negate:
            first = Not(first)
        terms = [first]
        joiner: str | None = None
        while self.is_keyword("AND", "OR"):
            word = self.token.value
            if joiner is not None and word != joiner:
                # Salesforce insists on parentheses rather than guessing precedence.
                raise self.unexpected()
            joiner = word
            self.advance()
            terms.append(self.term())
        return BoolOp(joiner, tuple(terms)) if joiner else first

    def term(self) -> Condition:
        if self.token.kind == "PUNCT" and self.token.value == "(":
            self.advance()
            inner = self.condition()
            self.expect_punct(")")
            return inner
        field = self.name()
        if self.is_keyword("NOT"):
            self.advance()
            if not self.is_keyword("IN"):
                raise self.unexpected()
            self.advance()
            return InList(field, self.literal_list(), negated=True)
        if self.accept_keyword("IN"):
            return InList(field, self.literal_list(), negated=False)
        if self.accept_keyword("LIKE"):
            pattern = self.literal()
            if pattern.kind != "string":
                raise malformed(self.text, pattern.column, "LIKE needs a quoted string pattern")
            return Like(field, pattern)
        if self.token.kind != "OP":
            raise self.unexpected()
        op = self.advance().value
        return Comparison(field, op, self.literal())

    def literal_list(self) -> tuple[Literal, ...]:
        self.expect_punct("(")
        if self.is_keyword("SELECT"):
            raise malformed(self.text, self.token.column, "semi-join sub-selects are not supported by this simulator")
        values = [self.literal()]
        while self.token.kind == "PUNCT" and self.token.value == ",":
            self.advance()
            values.append(self.literal())
        self.expect_punct(")")
        return tuple(values)

    def literal(self) -> Literal:
        token = self.token
        kinds = {"STRING": "string", "NUMBER": "number", "DATE": "date", "DATETIME": "datetime"}
        if token.kind in kinds:
            self.advance()
            return Literal(kinds[token.kind], token.value, token.column)
        if token.kind == "KEYWORD" and token.value in ("TRUE", "FALSE"):
            self.advance()
            return Literal("boolean", token.value == "TRUE", token.column)
        if token.kind == "KEYWORD" and token.value == "NULL":
            self.advance()
            return Literal("null", None, token.column)
        raise self.unexpected()

    def order_list(self) -> tuple[OrderItem, ...]:
        items = [self.order_item()]
        while self.token.kind == "PUNCT" and self.token.value == ",":
            self.advance()
            items.append(self.order_item())
        return tuple(items)

    def order_item(self) -> OrderItem:
        field = self.name()
        descending = bool(self.accept_keyword("DESC"))
        if not descending:
            self.accept_keyword("ASC")
        # Salesforce's default: nulls first when ascending, last when descending.
        nulls_first = not descending
        if self.accept_keyword("NULLS"):
            which = self.accept_keyword("FIRST", "LAST")
            if which is None:
                raise self.unexpected()
            nulls_first = which.value == "FIRST"
        return OrderItem(field, descending, nulls_first)


def parse(text: str) -> Query:
    """Parse one SOQL statement, or raise SoqlError(MALFORMED_QUERY) pointing at the problem."""
    if not text or not text.strip():
        raise SoqlError("MALFORMED_QUERY", "A query must be given")
    return _Parser(text).query()
