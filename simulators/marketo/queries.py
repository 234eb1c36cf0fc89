"""Get-by-filter for every object: filter types, values, fields, batch size and paging tokens.

Facts (DEV/lead-database, DEV/leads, SWAGGER): ``filterType`` is a searchable field or the
aliases ``idField``/``dedupeFields``; at most 300 ``filterValues``; ``batchSize`` default and
maximum 300; more than 1,000 matching leads fails with 1003 "Too many results match the filter";
an unsupported lead filter fails with 1011; no match is ``success`` with ``result: []``; default
fields are ``id, email, updatedAt, createdAt, firstName, lastName`` for leads and the id field,
dedupe fields, ``updatedAt`` and ``createdAt`` for the others; non-lead results carry ``seq``
(Adobe's examples). A requested field with no value is left out (the docs: absent means null).

Decisions (UNCONFIRMED): more than 300 values or a batchSize over 300 answer response-level
1003; an unknown name in ``fields`` answers response-level 1006; the compound role key is only
accepted as JSON ``input`` with ``filterType=dedupeFields``.
"""

from __future__ import annotations

from typing import Any

from simulators.marketo.envelope import MarketoError, decode_token, encode_token
from simulators.marketo.schema import LEADS, OBJECTS, ObjectType
from simulators.marketo.store import Store, key_of
from simulators.marketo.values import InvalidValue, normalise

MAX_VALUES = 300
MAX_BATCH = 300
MAX_LEAD_MATCHES = 1000


def split_list(raw: Any) -> list[str]:
    """A comma-separated query parameter (or a JSON list) as a list of non-empty strings."""
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else str(raw).split(",")
    return [str(item).strip() for item in items if str(item).strip()]


def query(
    store: Store,
    obj: str,
    *,
    filter_type: str | None,
    values: list[str],
    inputs: list[Any] | None = None,
    fields: list[str],
    batch_size: Any = None,
    token: str | None = None,
) -> tuple[list[dict[str, Any]], str | None, int]:
    """One page of matches, the token of the next page (None at the end) and how many values were asked."""
    otype = OBJECTS[obj]
    field_name = _filter_field(otype, filter_type, compound=inputs is not None)
    batch = _batch(batch_size)
    asked = len(inputs) if inputs is not None else len(values)
    if asked == 0:
        raise MarketoError("1003", "filterValues cannot be blank")
    if asked > MAX_VALUES:
        raise MarketoError("1003", f"Invalid data: {asked} filter values, the maximum is {MAX_VALUES}")
    for name in fields:
        if name not in otype.by_name:
            raise MarketoError("1006", f"Field '{name}' not found")
    offset = int(decode_token(token, "p")) if token else 0
    with store.lock:
        ids = _matches(store, otype, field_name, values, inputs)
        page_ids = ids[offset : offset + batch]
        rows = [_render(store, otype, record_id, fields, seq) for seq, record_id in enumerate(page_ids)]
    following = offset + batch
    return rows, (encode_token("p", following) if following < len(ids) else None), asked


def _filter_field(otype: ObjectType, filter_type: str | None, *, compound: bool) -> str:
    if not filter_type:
        raise MarketoError("1003", "filterType cannot be blank")
    if otype is LEADS:
        if filter_type not in LEADS.searchable_single:
            raise MarketoError("1011", f"Field '{filter_type}' not supported")
        return filter_type
    if filter_type == "idField":
        return otype.id_field
    if filter_type == "dedupeFields":
        if len(otype.dedupe_fields) > 1:
            if not compound:
                raise MarketoError("1003", "Invalid data: a compound key is queried with a JSON input")
            return "dedupeFields"
        return otype.dedupe_fields[0]
    if filter_type not in otype.searchable_single:
        raise MarketoError("1003", f"Invalid filterType '{filter_type}'")
    return filter_type


def _batch(raw: Any) -> int:
    if raw in (None, ""):
        return MAX_BATCH
    try:
        batch = int(raw)
    except (TypeError, ValueError):
        raise MarketoError("1003", "Invalid batchSize") from None
    if not 1 <= batch <= MAX_BATCH:
        raise MarketoError("1003", f"Invalid data: batchSize must be 1..{MAX_BATCH}")
    return batch


def _matches(
    store: Store, otype: ObjectType, field_name: str, values: list[str], inputs: list[Any] | None
) -> list[Any]:
    found: set[Any] = set()
    if otype is LEADS:
        for value in values:
            found.update(store.leads.find(field_name, value))
            if len(found) > MAX_LEAD_MATCHES:
                raise MarketoError("1003", "Too many results match the filter")
        return sorted(found)
    table = store.tables[otype.name]
    if field_name == "dedupeFields":
        for item in inputs or []:
            key = _compound_key(otype, item)
            if key is not None:
                found.update(table.matches(key))
    else:
        spec = otype.by_name[field_name]
        for value in values:
            try:
                typed = normalise(spec, value)
            except InvalidValue:
                continue
            found.update(table.find(field_name, typed))
    return sorted(found, key=str)


def _compound_key(otype: ObjectType, item: Any) -> tuple[Any, ...] | None:
    if not isinstance(item, dict):
        raise MarketoError("1003", "Invalid data: input items must be objects")
    try:
        values = {name: normalise(otype.by_name[name], item.get(name)) for name in otype.dedupe_fields}
    except InvalidValue:
        return None
    return key_of(otype, values)


def _render(store: Store, otype: ObjectType, record_id: Any, fields: list[str], seq: int) -> dict[str, Any]:
    if otype is LEADS:
        lead = store.leads.get(record_id)
        record = store.lead_view(lead) if lead is not None else {"id": record_id}
        names = fields or list(LEADS.default_query_fields)
        row = {"id": record_id}
    else:
        record = store.tables[otype.name].records[record_id]
        names = fields or [otype.id_field, *otype.dedupe_fields, "updatedAt", "createdAt"]
        row = {"seq": seq, otype.id_field: record_id}
    for name in names:
        value = record.get(name)
        if value is not None:
            row[name] = value
    return row
