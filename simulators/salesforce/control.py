"""The /_sim/ control API (no auth: it is a simulator), for tests, benchmarks and the CLI.

GET  /_sim/requests?since=N              {"requests": [...], "last_seq": N}
GET  /_sim/faults | PUT /_sim/faults     the FaultPlan as a dict (rates, bursts, seed, timeout_seconds)
GET  /_sim/state                         counts per object, API usage, ids tests need
GET  /_sim/records/{Obj}?offset=&limit=  {"records": [...], "total": N, "next_offset": M | null}
POST /_sim/mutate                        {"seed", "n"} or {"operations": [...]} -> what was done
POST /_sim/usage/reset                   the daily allocation starts again
POST /_sim/tokens/revoke                 every access token becomes invalid
POST /_sim/cursors/expire                every query locator becomes invalid
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from simulators.common.faults import FaultPlan
from simulators.salesforce import schema
from simulators.salesforce.mutations import apply_operation
from simulators.salesforce.org import StoreError
from simulators.salesforce.values import BadValue

if TYPE_CHECKING:
    from simulators.salesforce.simulator import SalesforceSimulator

RECORDS_PAGE = 50_000


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json")


def _problem(status: int, message: str) -> Response:
    return _json({"error": message}, status)


def handle(sim: SalesforceSimulator, request: Request) -> Response:
    path, method = request.path.rstrip("/"), request.method
    try:
        if path == "/_sim/requests" and method == "GET":
            since = int(request.args.get("since", "0"))
            return _json({"requests": [e.as_dict() for e in sim.log.since(since)], "last_seq": sim.log.last_seq})
        if path == "/_sim/faults":
            if method == "PUT":
                sim.faults = FaultPlan.from_dict(request.get_json(force=True) or {})
            return _json(sim.faults.as_dict())
        if path == "/_sim/state" and method == "GET":
            return _json(sim.state())
        if path.startswith("/_sim/records/") and method == "GET":
            return _records(sim, path.removeprefix("/_sim/records/"), request)
        if path == "/_sim/mutate" and method == "POST":
            return _mutate(sim, request.get_json(force=True) or {})
        if path == "/_sim/usage/reset" and method == "POST":
            sim.usage.reset()
            return _json({"used": 0})
        if path == "/_sim/tokens/revoke" and method == "POST":
            return _json({"revoked": sim.sessions.revoke_all()})
        if path == "/_sim/cursors/expire" and method == "POST":
            return _json({"expired": sim.cursors.expire_all()})
    except (ValueError, KeyError, TypeError) as error:
        return _problem(400, str(error))
    return _problem(404, f"no control resource {method} {path}")


def _records(sim: SalesforceSimulator, name: str, request: Request) -> Response:
    sobject = schema.sobject(name)
    if sobject is None:
        return _problem(404, f"unknown object {name!r}")
    offset = max(0, int(request.args.get("offset", "0")))
    limit = max(1, min(RECORDS_PAGE, int(request.args.get("limit", str(RECORDS_PAGE)))))
    table = sim.org.tables[sobject.name]
    with sim.org.lock:
        ids = list(table.rows)[offset : offset + limit]
        records = [table.as_dict(table.rows[i]) for i in ids]
        total = len(table)
    following = offset + len(records)
    return _json({"records": records, "total": total, "next_offset": following if following < total else None})


def _mutate(sim: SalesforceSimulator, body: dict[str, Any]) -> Response:
    if "operations" in body:
        results = []
        for operation in body["operations"]:
            try:
                results.append({"ok": True, **apply_operation(sim.org, operation)})
            except (StoreError, BadValue, ValueError, KeyError) as error:
                results.append({"ok": False, "op": operation.get("op"), "error": str(error)})
        return _json({"results": results})
    changes = sim.org.mutate(int(body.get("seed", 0)), int(body.get("n", 1)))
    return _json({"changes": changes})
