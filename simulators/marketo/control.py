"""The ``/_sim/`` control API: request log, faults, state, records, reset, MSI epochs, config.

GET  /_sim/requests?since=N        {"requests": [...], "last_seq": N}
GET  /_sim/faults | PUT            FaultPlan as a dict (rates, bursts, seed, timeout_seconds)
GET  /_sim/state                   record counts, limits, tokens, MSI epoch
GET  /_sim/records/{obj}?offset=&limit=   {"records": [...], "total": N, "next_offset": M|null}
POST /_sim/reset                   back to the seeded start (data, counters, log, faults; tokens stay)
POST /_sim/msi/advance             {"epochs": n} -> what changed
GET  /_sim/config | PUT            time scale, latency, limits, quota (partial updates)
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from werkzeug.wrappers import Request, Response

from simulators.common.faults import FaultPlan
from simulators.marketo.context import SimContext
from simulators.marketo.store import OBJECT_NAMES


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, default=str), status=status, mimetype="application/json")


def _body(request: Request) -> dict[str, Any]:
    data = request.get_data(cache=True)
    if not data:
        return {}
    parsed = json.loads(data)
    if not isinstance(parsed, dict):
        raise ValueError("expected a JSON object")
    return parsed


def handle(ctx: SimContext, request: Request) -> Response:
    parts = request.path.strip("/").split("/")[1:]
    try:
        return _dispatch(ctx, request, parts)
    except (ValueError, TypeError, KeyError) as error:
        return _json({"error": str(error)}, 400)


def _dispatch(ctx: SimContext, request: Request, parts: list[str]) -> Response:
    method = request.method
    head = parts[0] if parts else ""
    if head == "requests" and method == "GET":
        since = int(request.args.get("since", 0))
        entries = [entry.as_dict() for entry in ctx.log.since(since)]
        return _json({"requests": entries, "last_seq": ctx.log.last_seq})
    if head == "faults" and method == "GET":
        return _json(ctx.faults.as_dict())
    if head == "faults" and method == "PUT":
        ctx.faults = FaultPlan.from_dict(_body(request))
        return _json(ctx.faults.as_dict())
    if head == "state" and method == "GET":
        return _json(state(ctx))
    if head == "records" and len(parts) == 2 and method == "GET":
        return _records(ctx, parts[1], request)
    if head == "reset" and method == "POST":
        ctx.store.reset()
        ctx.limits.reset()
        ctx.log.clear()
        ctx.faults = FaultPlan()
        return _json(state(ctx))
    if parts == ["msi", "advance"] and method == "POST":
        epochs = int(_body(request).get("epochs", 1))
        return _json(ctx.store.advance_msi(epochs))
    if head == "config" and method == "GET":
        return _json(ctx.config.as_dict())
    if head == "config" and method == "PUT":
        unknown = ctx.config.update(_body(request))
        if unknown:
            return _json({"error": f"unknown or fixed settings: {', '.join(unknown)}"}, 400)
        return _json(ctx.config.as_dict())
    return _json({"error": f"no control endpoint {method} {request.path}"}, 404)


def state(ctx: SimContext) -> dict[str, Any]:
    return {
        "records": ctx.store.counts(),
        "limits": ctx.limits.snapshot(),
        "tokens": {"issued": ctx.identity.issued, "live": ctx.identity.live_tokens()},
        "requests": ctx.log.last_seq,
    }


def _records(ctx: SimContext, obj: str, request: Request) -> Response:
    if obj not in OBJECT_NAMES:
        return _json({"error": f"unknown object {obj}; one of {', '.join(OBJECT_NAMES)}"}, 404)
    offset = int(request.args.get("offset", 0))
    limit = min(int(request.args.get("limit", 1000)), 10_000)
    with ctx.store.lock:
        total = len(ctx.store.leads) if obj == "leads" else len(ctx.store.tables[obj])
        rows = [dict(r) for r in itertools.islice(ctx.store.records(obj), offset, offset + limit)]
    following = offset + len(rows)
    return _json({"records": rows, "total": total, "next_offset": following if following < total else None})
