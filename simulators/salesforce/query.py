"""Runs parsed SOQL against the org: binds names to the schema, filters, sorts, and pages through cursors."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from clients import sfids
from simulators.salesforce import schema, soql
from simulators.salesforce.org import Org, Table, base62
from simulators.salesforce.soql import SoqlError, malformed

Predicate = Callable[[list[Any]], bool]
MAX_BATCH = 2000
MIN_BATCH = 200


@dataclass(frozen=True)
class Plan:
    """A query bound to the schema: what to select, which rows match, in what order, how many."""

    sobject: schema.SObject
    count: bool
    fields: tuple[str, ...]
    predicate: Predicate | None
    order: tuple[tuple[int, bool, bool, Callable[[Any], Any]], ...]
    limit: int | None


def plan(text: str) -> Plan:
    parsed = soql.parse(text)
    sobject = schema.sobject(parsed.sobject.name)
    if sobject is None:
        raise malformed(
            text,
            parsed.sobject.column,
            f"sObject type '{parsed.sobject.name}' is not supported. If you are attempting to use a "
            "custom object, be sure to append the '__c' after the entity name. Please reference your "
            "WSDL or the describe call for the appropriate names.",
            code="INVALID_TYPE",
        )
    binder = _Binder(text, sobject)
    fields: list[str] = []
    for ref in parsed.fields:
        name = binder.field(ref).name
        if name in fields:
            raise malformed(text, ref.column, f"duplicate field selected: {name}")
        fields.append(name)
    predicate = binder.condition(parsed.where) if parsed.where is not None else None
    order = tuple(binder.order(item) for item in parsed.order_by)
    return Plan(sobject, parsed.count, tuple(fields), predicate, order, parsed.limit)


class _Binder:
    def __init__(self, text: str, sobject: schema.SObject) -> None:
        self.text = text
        self.sobject = sobject
        self.pos = {name: i for i, name in enumerate(sobject.names)}

    def field(self, ref: soql.FieldRef) -> schema.Field:
        found = self.sobject.field(ref.name)
        if found is None:
            if "." in ref.name:
                problem = f"Didn't understand relationship '{ref.name.split('.')[0]}' in field path."
            else:
                problem = (
                    f"No such column '{ref.name}' on entity '{self.sobject.name}'. If you are attempting to "
                    "use a custom field, be sure to append the '__c' after the custom field name. Please "
                    "reference your WSDL or the describe call for the appropriate names."
                )
            raise malformed(self.text, ref.column, problem, code="INVALID_FIELD")
        return found

    def filterable(self, ref: soql.FieldRef, verb: str = "filtered") -> tuple[schema.Field, int]:
        found = self.field(ref)
        if not found.filterable:
            raise malformed(
                self.text, ref.column, f"field '{found.name}' can not be {verb} in a query call", code="INVALID_FIELD"
            )
        return found, self.pos[found.name]

    # --- conditions ------------------------------------------------------------------
    def condition(self, node: soql.Condition) -> Predicate:
        if isinstance(node, soql.BoolOp):
            terms = [self.condition(term) for term in node.terms]
            if node.op == "AND":
                return lambda row: all(term(row) for term in terms)
            return lambda row: any(term(row) for term in terms)
        if isinstance(node, soql.Not):
            inner = self.condition(node.term)
            return lambda row: not inner(row)
        if isinstance(node, soql.Comparison):
            return self.comparison(node)
        if isinstance(node, soql.InList):
            return self.in_list(node)
        return self.like(node)

    def comparison(self, node: soql.Comparison) -> Predicate:
        found, at = self.filterable(node.field)
        if node.value.kind == "null":
            if node.op == "=":
                return lambda row: row[at] is None
            if node.op == "!=":
                return lambda row: row[at] is not None
            raise malformed(self.text, node.value.column, f"unexpected token: '{node.op}'")
        if found.type == schema.BOOLEAN and node.op not in ("=", "!="):
            raise malformed(
                self.text,
                node.field.column,
                f"invalid operator on boolean field: {node.op}",
                code="INVALID_QUERY_FILTER_OPERATOR",
            )
        key = _key_for(found)
        wanted = key(self.value(found, node.value))
        at_op = _OPERATORS[node.op]
        if node.op == "!=":
            return lambda row: row[at] is None or key(row[at]) != wanted
        return lambda row: row[at] is not None and at_op(key(row[at]), wanted)

    def in_list(self, node: soql.InList) -> Predicate:
        found, at = self.filterable(node.field)
        key = _key_for(found)
        wanted = {key(self.value(found, literal)) for literal in node.values if literal.kind != "null"}
        with_null = any(literal.kind == "null" for literal in node.values)
        if node.negated:
            return lambda row: (
                (row[at] is None and not with_null) or (row[at] is not None and key(row[at]) not in wanted)
            )
        return lambda row: (row[at] is None and with_null) or (row[at] is not None and key(row[at]) in wanted)

    def like(self, node: soql.Like) -> Predicate:
        found, at = self.filterable(node.field)
        if found.type not in schema.TEXT_TYPES or found.type in schema.ID_TYPES:
            raise malformed(
                self.text,
                node.field.column,
                f"invalid operator on {found.type} field: LIKE",
                code="INVALID_QUERY_FILTER_OPERATOR",
            )
        matcher = _like_matcher(str(node.pattern.value))
        return lambda row: row[at] is not None and matcher(row[at].casefold())

    def value(self, found: schema.Field, literal: soql.Literal) -> Any:
        """The literal as the store keeps values of this field, or the error Salesforce gives."""
        kind = found.type
        expected = _EXPECTED_LITERAL.get(kind, "string")
        if literal.kind != expected:
            quoted = "should be enclosed in quotes" if expected == "string" else "should not be enclosed in quotes"
            type_name = {"datetime": "dateTime", "number": "number", "boolean": "boolean", "date": "date"}.get(
                expected, "string"
            )
            raise malformed(
                self.text,
                literal.column,
                f"value of filter criterion for field '{found.name}' must be of type {type_name} and {quoted}",
                code="INVALID_QUERY_FILTER_OPERATOR",
            )
        if kind in schema.ID_TYPES:
            try:
                return sfids.to_18(literal.value)
            except sfids.InvalidSalesforceId:
                raise malformed(
                    self.text,
                    literal.column,
                    f"invalid ID field: {literal.value}",
                    code="INVALID_QUERY_FILTER_OPERATOR",
                ) from None
        return literal.value

    def order(self, item: soql.OrderItem) -> tuple[int, bool, bool, Callable[[Any], Any]]:
        found, at = self.filterable(item.field, verb="sorted")
        return at, item.descending, item.nulls_first, _key_for(found)


_EXPECTED_LITERAL = {
    schema.DATETIME: "datetime",
    schema.DATE: "date",
    schema.BOOLEAN: "boolean",
    **{kind: "number" for kind in schema.NUMBER_TYPES},
}

_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _identity(value: Any) -> Any:
    return value


def _casefold(value: Any) -> Any:
    return value.casefold()


def _id_key(value: Any) -> Any:
    # Stored references may be 15 characters (old data loads); compare them as 18.
    if len(value) == 15:
        try:
            return sfids.to_18(value)
        except sfids.InvalidSalesforceId:
            return value
    return value


def _key_for(found: schema.Field) -> Callable[[Any], Any]:
    """Text compares case-insensitively in SOQL; ids compare in their 18-character form."""
    if found.type in schema.ID_TYPES:
        return _id_key
    if found.type in schema.TEXT_TYPES:
        return _casefold
    return _identity


def _like_matcher(pattern: str) -> Callable[[str], bool]:
    """SOQL LIKE: % any run, _ one character, \\% and \\_ literal; case-insensitive."""
    parts: list[tuple[str, str]] = []  # ("lit", text) | ("one", "") | ("any", "")
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "%_":
            parts.append(("lit", pattern[i + 1]))
            i += 2
            continue
        parts.append(("any", "") if char == "%" else ("one", "") if char == "_" else ("lit", char.casefold()))
        i += 1

    def match(text: str, at: int = 0, part: int = 0) -> bool:
        while part < len(parts):
            kind, literal = parts[part]
            if kind == "any":
                return any(match(text, start, part + 1) for start in range(at, len(text) + 1))
            if at >= len(text) or (kind == "lit" and text[at] != literal):
                return False
            at += 1
            part += 1
        return at == len(text)

    return match


# --- execution ------------------------------------------------------------------------
def matching_ids(org: Org, query: Plan, *, include_deleted: bool) -> list[str]:
    """The ids the query selects, in its order, under the org lock (a snapshot)."""
    table = org.tables[query.sobject.name]
    deleted_at = table.pos.get("IsDeleted")
    predicate = query.predicate
    with org.lock:
        rows = table.rows.values()
        if deleted_at is not None and not include_deleted:
            selected = [r for r in rows if not r[deleted_at] and (predicate is None or predicate(r))]
        elif predicate is not None:
            selected = [r for r in rows if predicate(r)]
        else:
            selected = list(rows)
        for at, descending, nulls_first, key in reversed(query.order):
            # One stable sort per key, last key first; nulls get a rank that lands them first or last.
            selected.sort(key=_sort_key(at, key, 0 if nulls_first != descending else 2), reverse=descending)
        if query.limit is not None:
            selected = selected[: query.limit]
        return [row[0] for row in selected]


def _sort_key(at: int, key: Callable[[Any], Any], null_rank: int) -> Callable[[list[Any]], tuple[int, Any]]:
    def sort_key(row: list[Any]) -> tuple[int, Any]:
        return (null_rank, 0) if row[at] is None else (1, key(row[at]))

    return sort_key


def render_rows(table: Table, ids: list[str], fields: tuple[str, ...], version: str) -> list[dict[str, Any]]:
    """Records as the query resource returns them: attributes first, then the selected fields."""
    name = table.sobject.name
    out = []
    for record_id in ids:
        row = table.rows.get(record_id)
        if row is None:
            continue
        record: dict[str, Any] = {
            "attributes": {"type": name, "url": f"/services/data/v{version}/sobjects/{name}/{record_id}"}
        }
        record.update(table.as_dict(row, fields))
        out.append(record)
    return out


@dataclass
class Cursor:
    """A query locator: the snapshot of matching ids, and how to render a page of them."""

    locator: str
    sobject: str
    fields: tuple[str, ...]
    ids: list[str]
    batch_size: int
    include_deleted: bool
    expires_at: float
    served_to: int = field(default=0)


class Cursors:
    """Open query locators; each expires after `lifetime` seconds (Salesforce keeps them two days)."""

    def __init__(self, org: Org, *, lifetime: float = 2 * 86_400.0, clock: Callable[[], float] = time.time) -> None:
        self._org = org
        self._lifetime = lifetime
        self._clock = clock
        self._open: dict[str, Cursor] = {}
        self._lock = threading.Lock()
        self._counter = 0

    def open(self, query: Plan, ids: list[str], *, batch_size: int, include_deleted: bool) -> Cursor:
        with self._lock:
            now = self._clock()
            for locator in [k for k, c in self._open.items() if c.expires_at <= now]:
                del self._open[locator]
            self._counter += 1
            id15 = f"01g{self._org.org_id[3:5]}0{base62(self._counter, 9)}"
            cursor = Cursor(
                id15 + sfids.checksum(id15),
                query.sobject.name,
                query.fields,
                ids,
                batch_size,
                include_deleted,
                now + self._lifetime,
            )
            self._open[cursor.locator] = cursor
            return cursor

    def get(self, locator: str) -> Cursor:
        with self._lock:
            cursor = self._open.get(locator)
            if cursor is None or cursor.expires_at <= self._clock():
                self._open.pop(locator, None)
                raise SoqlError("INVALID_QUERY_LOCATOR", "invalid query locator")
            return cursor

    def close(self, locator: str) -> None:
        with self._lock:
            self._open.pop(locator, None)

    def expire_all(self) -> int:
        """Test hook: every open locator becomes invalid, as after two days."""
        with self._lock:
            count = len(self._open)
            self._open.clear()
            return count

    def __len__(self) -> int:
        return len(self._open)


def batch_size_from(header: str | None) -> int:
    """Sforce-Query-Options: batchSize=N, clamped to 200..2000; anything else means the default."""
    if not header:
        return MAX_BATCH
    for part in header.split(","):
        key, _, value = part.partition("=")
        if key.strip().lower() == "batchsize":
            try:
                return max(MIN_BATCH, min(MAX_BATCH, int(value.strip())))
            except ValueError:
                return MAX_BATCH
    return MAX_BATCH
