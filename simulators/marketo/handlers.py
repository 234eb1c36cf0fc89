"""One function per REST operation: read the parameters, call the store, build the envelope.

Request formats (DEV/lead-database, DEV/leads): writes are POSTs with a JSON body and
``Content-Type: application/json`` (else 612); a body that does not parse is 609. A query sent
as ``POST ...?_method=GET`` carries its parameters form-urlencoded; Opportunities and Roles also
take the JSON ``LookupCustomObjectRequest`` there (swagger), which is how a compound role key is
queried. Delete Leads also takes ``?id=1,2`` with no body (swagger).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from werkzeug.wrappers import Request

from simulators.marketo import queries, writes
from simulators.marketo.context import SimContext
from simulators.marketo.envelope import MarketoError, decode_token, encode_token, success
from simulators.marketo.msi import ACTIVITY_TYPES
from simulators.marketo.schema import OBJECTS, lead_describe, lead_describe2


@dataclass
class Call:
    """One admitted REST call as the handlers see it."""

    ctx: SimContext
    request: Request
    obj: str | None
    path_params: dict[str, Any]
    method_override: bool  # POST ...?_method=GET
    pause: Callable[[int], None]  # sleep the processing time of n records
    detail: dict[str, Any] = field(default_factory=dict)
    _lookup: dict[str, Any] | None = None

    def param(self, name: str) -> Any:
        """A parameter from the query string, or (for _method=GET) the form or JSON body."""
        if self.method_override:
            body = self.lookup_body()
            if name in body:
                return body[name]
        return self.request.args.get(name)

    def lookup_body(self) -> dict[str, Any]:
        if self._lookup is None:
            self._lookup = _lookup_body(self)
        return self._lookup

    def json_body(self) -> Any:
        kind = self.request.mimetype
        if kind != "application/json":
            raise MarketoError("612", "Invalid Content Type")
        try:
            return json.loads(self.request.get_data(cache=True) or b"null")
        except (ValueError, UnicodeDecodeError):
            raise MarketoError("609", "Invalid JSON") from None


@dataclass
class Outcome:
    body: dict[str, Any]
    records: int = 0
    record_codes: dict[str, int] = field(default_factory=dict)
    write: bool = False


def _lookup_body(call: Call) -> dict[str, Any]:
    kind = call.request.mimetype
    if kind == "application/x-www-form-urlencoded":
        return {key: call.request.form.get(key) for key in call.request.form}
    if kind == "application/json" and call.obj in ("opportunities", "roles"):
        body = call.json_body()
        if not isinstance(body, dict):
            raise MarketoError("609", "Invalid JSON")
        return body
    raise MarketoError("612", "Invalid Content Type")


def record_codes(results: list[dict[str, Any]]) -> dict[str, int]:
    """Per-record outcomes for the log: the status, or the first reason code of a skip."""
    counts: Counter[str] = Counter()
    for item in results:
        reasons = item.get("reasons")
        counts[reasons[0]["code"] if item.get("status") == "skipped" and reasons else str(item.get("status"))] += 1
    return dict(counts)


def _count(body: Any) -> int:
    records = body.get("input") if isinstance(body, dict) else None
    return len(records) if isinstance(records, list) else 0


# --- writes ----------------------------------------------------------------------------
def sync_objects(call: Call) -> Outcome:
    body = call.json_body()
    call.detail.update(_pick(body, "action", "dedupeBy"))
    records = _count(body)
    plan = writes.plan_sync(call.ctx.store, str(call.obj), body)
    call.pause(records)
    results = writes.apply_sync(call.ctx.store, plan)
    return Outcome(success(results), records, record_codes(results), write=True)


def sync_leads(call: Call) -> Outcome:
    body = call.json_body()
    call.detail.update(_pick(body, "action", "lookupField", "partitionName"))
    records = _count(body)
    plan = writes.plan_sync_leads(call.ctx.store, body)
    call.pause(records)
    results = writes.apply_sync_leads(call.ctx.store, plan)
    return Outcome(success(results), records, record_codes(results), write=True)


def delete_objects(call: Call) -> Outcome:
    body = call.json_body()
    call.detail.update(_pick(body, "deleteBy"))
    records = _count(body)
    call.pause(records)
    results = writes.delete_objects(call.ctx.store, str(call.obj), body)
    return Outcome(success(results), records, record_codes(results), write=True)


def delete_leads(call: Call) -> Outcome:
    ids: list[Any] = queries.split_list(call.request.args.get("id"))
    if not ids or call.request.content_length:
        body = call.json_body()
        ids = [item.get("id") if isinstance(item, dict) else None for item in writes.input_records(body)]
    call.pause(len(ids))
    results = writes.delete_leads(call.ctx.store, ids)
    return Outcome(success(results), len(ids), record_codes(results), write=True)


def merge_leads(call: Call) -> Outcome:
    raw = call.request.args.get("leadIds") or call.request.args.get("leadId")
    try:
        losers = [int(value) for value in queries.split_list(raw)]
    except ValueError:
        raise MarketoError("1003", "Invalid data: lead ids must be integers") from None
    call.pause(len(losers) + 1)
    writes.merge_leads(call.ctx.store, int(call.path_params["lead_id"]), losers)
    return Outcome(success(), len(losers) + 1, write=True)


# --- reads -----------------------------------------------------------------------------
def get_objects(call: Call) -> Outcome:
    inputs = call.param("input") if call.method_override else None
    if inputs is not None and not isinstance(inputs, list):
        raise MarketoError("1003", "Invalid data: input must be a list")
    return _get(call, inputs)


def get_leads(call: Call) -> Outcome:
    return _get(call, None)


def _get(call: Call, inputs: list[Any] | None) -> Outcome:
    filter_type = call.param("filterType")
    call.detail.update({"filterType": filter_type, "_method": "GET" if call.method_override else None})
    values = queries.split_list(call.param("filterValues"))
    call.pause(len(inputs) if inputs is not None else len(values))
    rows, token, asked = queries.query(
        call.ctx.store,
        str(call.obj),
        filter_type=filter_type,
        values=values,
        inputs=inputs,
        fields=queries.split_list(call.param("fields")),
        batch_size=call.param("batchSize"),
        token=call.param("nextPageToken"),
    )
    extra: dict[str, Any] = {"moreResult": token is not None}
    if token is not None:
        extra["nextPageToken"] = token
    return Outcome(success(rows, **extra), asked)


def get_lead_by_id(call: Call) -> Outcome:
    rows, _, _ = queries.query(
        call.ctx.store,
        "leads",
        filter_type="id",
        values=[call.path_params["lead_id"]],
        fields=queries.split_list(call.param("fields")),
    )
    return Outcome(success(rows), 1)


def describe_object(call: Call) -> Outcome:
    return Outcome(success([OBJECTS[str(call.obj)].describe()]))


def describe_leads(call: Call) -> Outcome:
    return Outcome(success(lead_describe()))


def describe_leads2(call: Call) -> Outcome:
    return Outcome(success([lead_describe2()]))


def usage(call: Call) -> Outcome:
    day, users = call.ctx.limits.usage()
    result = [
        {
            "date": _today(day),
            "total": sum(users.values()),
            "users": [{"userId": user, "count": count} for user, count in sorted(users.items())],
        }
    ]
    return Outcome(success(result))


def error_stats(call: Call) -> Outcome:
    day, _ = call.ctx.limits.usage()
    counts = call.ctx.limits.errors()
    result = [
        {
            "date": _today(day),
            "total": sum(counts.values()),
            "errors": [{"errorCode": code, "count": n} for code, n in sorted(counts.items())],
        }
    ]
    return Outcome(success(result))


def _today(day: str) -> str:
    return day if not day.startswith("scaled") else datetime.now(UTC).date().isoformat()


def activity_types(call: Call) -> Outcome:
    return Outcome(success(ACTIVITY_TYPES))


def paging_token(call: Call) -> Outcome:
    """GET activities/pagingtoken.json?sinceDatetime= (swagger: date-time; a date alone is midnight UTC)."""
    raw = call.request.args.get("sinceDatetime")
    if not raw:
        raise MarketoError("701", "sinceDatetime cannot be blank")
    try:
        since = datetime.fromisoformat(raw if "T" in raw else raw + "T00:00:00+00:00")
    except ValueError:
        raise MarketoError("704", "Invalid date format") from None
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    with call.ctx.store.lock:
        position = call.ctx.store.activities.position_since(since.timestamp())
    return Outcome(success(None, nextPageToken=encode_token("a", position)))


def activities(call: Call) -> Outcome:
    """Get Lead Activities: up to batchSize (max 300) activities after the token; leadIds up to 30 (swagger)."""
    token = call.request.args.get("nextPageToken")
    if not token:
        raise MarketoError("701", "nextPageToken cannot be blank")
    try:
        type_ids = {int(v) for v in queries.split_list(call.request.args.get("activityTypeIds"))}
        lead_filter = queries.split_list(call.request.args.get("leadIds"))
        lead_ids = {int(v) for v in lead_filter} if lead_filter else None
    except ValueError:
        raise MarketoError("1003", "Invalid data: ids must be integers") from None
    if not type_ids:
        raise MarketoError("701", "activityTypeIds cannot be blank")
    if len(type_ids) > 10 or (lead_ids is not None and len(lead_ids) > 30):
        raise MarketoError("1003", "Invalid data: at most 10 activity types and 30 lead ids")
    batch = queries._batch(call.request.args.get("batchSize"))
    start = int(decode_token(token, "a"))
    with call.ctx.store.lock:
        rows, position = call.ctx.store.activities.page(start, type_ids, lead_ids, batch)
        more = position < len(call.ctx.store.activities)
    return Outcome(success(rows, nextPageToken=encode_token("a", position), moreResult=more), len(rows))


def _pick(body: Any, *names: str) -> dict[str, Any]:
    return {name: body.get(name) for name in names if isinstance(body, dict) and name in body}
