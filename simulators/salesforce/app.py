"""The simulator's WSGI app: token endpoint, the REST resources under /services/data, and /_sim/.

Order of checks for a /services/data/vXX.X call:

1. URI longer than 16,384 bytes -> 414 (Salesforce's limit on URI plus headers).
2. Fault `early_token_expiry` revokes the presented token; unknown or expired token -> 401
   INVALID_SESSION_ID (not counted against the allocation).
3. Daily allocation (rolling 24 h) spent -> 403 REQUEST_LIMIT_EXCEEDED (not counted); else the
   call is counted and every answer from here on carries Sforce-Limit-Info.
4. Faults: request_limit (403), timeout (hold, then answer normally), http_500, http_503.
5. The resource; then the latency model sleeps latency_per_call + latency_per_record * records.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request, Response

from clients import sfids
from simulators.common.faults import FaultPlan
from simulators.common.requestlog import RequestLog
from simulators.salesforce import schema
from simulators.salesforce.auth import Sessions, TokenEndpoint, TokenError
from simulators.salesforce.org import Org
from simulators.salesforce.query import Cursor, Cursors, batch_size_from, matching_ids, plan, render_rows
from simulators.salesforce.soql import SoqlError
from simulators.salesforce.writes import RequestError, update_collection

MAX_URI_BYTES = 16_384
DAY_SECONDS = 86_400.0
_DATA = re.compile(r"^/services/data/v(\d{2,3}\.\d)(/.*)?$")
_BEARER = re.compile(r"^\s*(?:bearer|oauth)\s+(\S+)\s*$", re.IGNORECASE)
_CURSOR = re.compile(r"^/(query|queryAll)/(01g[A-Za-z0-9]{15})-(\d+)/?$")
VERSIONS = (
    ("Winter '24", "59.0"),
    ("Spring '24", "60.0"),
    ("Summer '24", "61.0"),
    ("Winter '25", "62.0"),
    ("Spring '25", "63.0"),
    ("Summer '25", "64.0"),
    ("Winter '26", "65.0"),
)


def json_response(body: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        status=status,
        mimetype="application/json",
        headers={"Content-Type": "application/json;charset=UTF-8"},
    )


def api_error(status: int, code: str, message: str) -> Response:
    """Every REST error body is a list of {"message", "errorCode"}."""
    return json_response([{"message": message, "errorCode": code}], status)


class ApiUsage:
    """The org's daily API allocation over a rolling 24 hours (one timestamp per counted call)."""

    def __init__(self, limit: int, clock: Callable[[], float] = time.time) -> None:
        self.limit = limit
        self._clock = clock
        self._calls: deque[float] = deque()
        self._lock = threading.Lock()

    def _prune(self) -> None:
        horizon = self._clock() - DAY_SECONDS
        while self._calls and self._calls[0] <= horizon:
            self._calls.popleft()

    def try_count(self) -> bool:
        with self._lock:
            self._prune()
            if len(self._calls) >= self.limit:
                return False
            self._calls.append(self._clock())
            return True

    @property
    def used(self) -> int:
        with self._lock:
            self._prune()
            return len(self._calls)

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()

    def header(self) -> str:
        return f"api-usage={self.used}/{self.limit}"


@dataclass
class Entry:
    """What the request log will say about the request being served."""

    operation: str = "unknown"
    obj: str | None = None
    records: int = 0
    error_code: str | None = None
    record_codes: dict[str, int] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Call:
    request: Request
    version: str
    rest: str
    user_id: str
    entry: Entry


class SalesforceApp:
    """WSGI callable for one simulated org."""

    def __init__(
        self,
        org: Org,
        *,
        sessions: Sessions,
        tokens: TokenEndpoint,
        usage: ApiUsage,
        cursors: Cursors,
        log: RequestLog,
        faults: FaultPlan,
        latency_per_call: float = 0.0,
        latency_per_record: float = 0.0,
    ) -> None:
        self.org = org
        self.sessions = sessions
        self.tokens = tokens
        self.usage = usage
        self.cursors = cursors
        self.log = log
        self.faults = faults
        self.latency_per_call = latency_per_call
        self.latency_per_record = latency_per_record
        self.control: Callable[[Request], Response] | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if request.path.startswith("/_sim/") and self.control is not None:
            return self.control(request)(environ, start_response)
        started = time.time()
        entry = Entry()
        response = self.route(request, entry)
        self.log.append(
            started=started,
            ended=time.time(),
            method=request.method,
            path=request.path,
            operation=entry.operation,
            obj=entry.obj,
            records=entry.records,
            http_status=response.status_code,
            error_code=entry.error_code,
            record_codes=entry.record_codes,
            detail=entry.detail,
        )
        return response(environ, start_response)

    def route(self, request: Request, entry: Entry) -> Response:
        path = request.path
        if path == "/services/oauth2/token":
            entry.operation = "token"
            return self.token(request, entry)
        if path in ("/services/data", "/services/data/"):
            entry.operation = "versions"
            return json_response(
                [{"label": label, "url": f"/services/data/v{v}", "version": v} for label, v in VERSIONS]
            )
        match = _DATA.match(path)
        if match:
            return self.data(request, match.group(1), match.group(2) or "/", entry)
        return api_error(404, "NOT_FOUND", "The requested resource does not exist")

    # --- OAuth -----------------------------------------------------------------------------
    def token(self, request: Request, entry: Entry) -> Response:
        if request.method != "POST":
            entry.error_code = "405"
            return api_error(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{request.method}' not allowed. Allowed are POST")
        try:
            body = self.tokens.grant(request.form.to_dict(), request.headers.get("Authorization"))
        except TokenError as error:
            entry.error_code = error.error
            return json_response(error.body(), error.status)
        entry.detail = {"grant_type": request.form.get("grant_type")}
        return json_response(body)

    # --- /services/data/vXX.X ------------------------------------------------------------------
    def data(self, request: Request, version: str, rest: str, entry: Entry) -> Response:
        entry.operation = _operation(request.method, rest)
        raw_uri = request.environ.get("RAW_URI") or request.full_path
        if len(raw_uri.encode()) > MAX_URI_BYTES:
            entry.error_code = "URI_TOO_LONG"
            return api_error(414, "URI_TOO_LONG", "The request URI is too long")
        token = _bearer(request)
        if token and self.faults.fires("early_token_expiry"):
            self.sessions.revoke(token)
        user_id = self.sessions.user_for(token)
        if user_id is None:
            entry.error_code = "INVALID_SESSION_ID"
            return api_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        if not self.usage.try_count():
            return self._limited(entry)
        response = self._faulted(entry) or self.resource(Call(request, version, rest, user_id, entry))
        delay = self.latency_per_call + self.latency_per_record * entry.records
        if delay > 0:
            time.sleep(delay)
        response.headers["Sforce-Limit-Info"] = self.usage.header()
        return response

    def _limited(self, entry: Entry) -> Response:
        entry.error_code = "REQUEST_LIMIT_EXCEEDED"
        response = api_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        response.headers["Sforce-Limit-Info"] = self.usage.header()
        return response

    def _faulted(self, entry: Entry) -> Response | None:
        faults = self.faults
        if faults.fires("request_limit"):
            entry.error_code = "REQUEST_LIMIT_EXCEEDED"
            return api_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        if faults.fires("timeout"):
            time.sleep(faults.timeout_seconds)
        if faults.fires("http_500"):
            entry.error_code = "UNKNOWN_EXCEPTION"
            return api_error(
                500,
                "UNKNOWN_EXCEPTION",
                "An unexpected error occurred. Please include this ErrorId "
                "if you contact support: 1234567890-12345 (-1234567890)",
            )
        if faults.fires("http_503"):
            entry.error_code = "SERVER_UNAVAILABLE"
            return api_error(503, "SERVER_UNAVAILABLE", "Server too busy")
        return None

    def resource(self, call: Call) -> Response:
        method, rest = call.request.method, call.rest.rstrip("/") or "/"
        try:
            if method == "GET" and rest in ("/query", "/queryAll"):
                return self.query(call, include_deleted=rest == "/queryAll")
            cursor = _CURSOR.match(rest)
            if method == "GET" and cursor:
                return self.query_more(call, cursor.group(2), int(cursor.group(3)))
            if method == "PATCH" and rest == "/composite/sobjects":
                return self.composite_update(call)
            if method == "GET" and rest == "/limits":
                return self.limits(call)
            parts = rest.strip("/").split("/")
            if method == "GET" and parts == ["sobjects"]:
                return json_response(
                    {
                        "encoding": "UTF-8",
                        "maxBatchSize": 200,
                        "sobjects": [
                            {"name": n, "keyPrefix": o.key_prefix, "queryable": True} for n, o in schema.OBJECTS.items()
                        ],
                    }
                )
            if method == "GET" and len(parts) == 3 and parts[0] == "sobjects" and parts[2] == "describe":
                return self.describe(call, parts[1])
            if method == "GET" and len(parts) == 3 and parts[0] == "sobjects":
                return self.retrieve(call, parts[1], parts[2])
        except SoqlError as error:
            call.entry.error_code = error.code
            return api_error(400, error.code, error.message)
        call.entry.error_code = "NOT_FOUND"
        return api_error(404, "NOT_FOUND", "The requested resource does not exist")

    def query(self, call: Call, *, include_deleted: bool) -> Response:
        text = call.request.args.get("q", "")
        call.entry.detail = {"soql": text}
        query_plan = plan(text)
        call.entry.obj = query_plan.sobject.name
        ids = matching_ids(self.org, query_plan, include_deleted=include_deleted)
        if query_plan.count:
            return json_response({"totalSize": len(ids), "done": True, "records": []})
        batch = batch_size_from(call.request.headers.get("Sforce-Query-Options"))
        cursor = self.cursors.open(query_plan, ids, batch_size=batch, include_deleted=include_deleted)
        return self._page(call, cursor, 0)

    def query_more(self, call: Call, locator: str, offset: int) -> Response:
        cursor = self.cursors.get(locator)
        if offset > len(cursor.ids):
            raise SoqlError("INVALID_QUERY_LOCATOR", "invalid query locator")
        call.entry.obj = cursor.sobject
        call.entry.detail = {"locator": locator, "offset": offset}
        return self._page(call, cursor, offset)

    def _page(self, call: Call, cursor: Cursor, offset: int) -> Response:
        end = min(offset + cursor.batch_size, len(cursor.ids))
        table = self.org.tables[cursor.sobject]
        with self.org.lock:
            records = render_rows(table, cursor.ids[offset:end], cursor.fields, call.version)
        body: dict[str, Any] = {"totalSize": len(cursor.ids), "done": end >= len(cursor.ids)}
        if end < len(cursor.ids):
            resource = "queryAll" if cursor.include_deleted else "query"
            body["nextRecordsUrl"] = f"/services/data/v{call.version}/{resource}/{cursor.locator}-{end}"
        else:
            self.cursors.close(cursor.locator)
        body["records"] = records
        call.entry.records = len(records)
        return json_response(body)

    def composite_update(self, call: Call) -> Response:
        entry = call.entry
        try:
            body = json.loads(call.request.get_data(as_text=True) or "null")
        except ValueError:
            entry.error_code = "JSON_PARSER_ERROR"
            return api_error(400, "JSON_PARSER_ERROR", "Unexpected character in the request body")
        records = body.get("records") if isinstance(body, dict) else None
        if isinstance(records, list):
            entry.records = len(records)
            types = {
                r.get("attributes", {}).get("type")
                for r in records
                if isinstance(r, dict) and isinstance(r.get("attributes"), dict)
            }
            entry.obj = types.pop() if len(types) == 1 else ("mixed" if types else None)
        # Salesforce runs Lead assignment rules on REST updates unless told FALSE.
        auto_assign = call.request.headers.get("Sforce-Auto-Assign", "TRUE").strip().lower() != "false"
        entry.detail = {"auto_assign": auto_assign, "allOrNone": bool(isinstance(body, dict) and body.get("allOrNone"))}
        try:
            outcome = update_collection(
                self.org,
                body,
                user_id=call.user_id,
                auto_assign=auto_assign,
                lock_fault=lambda: self.faults.fires("unable_to_lock_row"),
            )
        except RequestError as error:
            entry.error_code = error.code
            return api_error(400, error.code, error.message)
        entry.record_codes = dict(outcome.codes)
        if outcome.auto_assigned:
            entry.record_codes["AUTO_ASSIGNED"] = outcome.auto_assigned
        return json_response(outcome.results)

    def limits(self, call: Call) -> Response:
        used, limit = self.usage.used, self.usage.limit
        return json_response(
            {
                "DailyApiRequests": {"Max": limit, "Remaining": max(0, limit - used)},
                "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
                "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
                "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
                "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
                "DailyStreamingApiEvents": {"Max": 1000000, "Remaining": 1000000},
                "DataStorageMB": {"Max": 5120, "Remaining": 4900},
                "FileStorageMB": {"Max": 20480, "Remaining": 20400},
                "SingleEmail": {"Max": 5000, "Remaining": 5000},
                "ConcurrentAsyncGetReportInstances": {"Max": 200, "Remaining": 200},
                "HourlyTimeBasedWorkflow": {"Max": 1000, "Remaining": 1000},
            }
        )

    def describe(self, call: Call, name: str) -> Response:
        sobject = schema.sobject(name)
        call.entry.obj = sobject.name if sobject else name
        if sobject is None:
            call.entry.error_code = "NOT_FOUND"
            return api_error(404, "NOT_FOUND", "The requested resource does not exist")
        text = json.dumps(sobject.describe()).replace("{version}", call.version)
        return json_response(json.loads(text))

    def retrieve(self, call: Call, name: str, record_id: str) -> Response:
        sobject = schema.sobject(name)
        call.entry.obj = sobject.name if sobject else name
        if sobject is None:
            call.entry.error_code = "NOT_FOUND"
            return api_error(404, "NOT_FOUND", "The requested resource does not exist")
        if not sfids.is_valid(record_id) or sfids.to_18(record_id)[:3] != sobject.key_prefix:
            call.entry.error_code = "NOT_FOUND"
            return api_error(
                404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {record_id}"
            )
        with self.org.lock:
            found = self.org.locate(record_id)
            if found is None:
                call.entry.error_code = "NOT_FOUND"
                return api_error(404, "NOT_FOUND", "The requested resource does not exist")
            table, row = found
            if "IsDeleted" in table.pos and table.get(row, "IsDeleted"):
                call.entry.error_code = "ENTITY_IS_DELETED"
                return api_error(404, "ENTITY_IS_DELETED", "entity is deleted")
            wanted = call.request.args.get("fields")
            names = tuple(f.name for n in wanted.split(",") if (f := sobject.field(n.strip()))) if wanted else None
            record = render_rows(table, [row[0]], names or sobject.names, call.version)[0]
        call.entry.records = 1
        return json_response(record)


def _bearer(request: Request) -> str | None:
    match = _BEARER.match(request.headers.get("Authorization", ""))
    return match.group(1) if match else None


def _operation(method: str, rest: str) -> str:
    rest = rest.rstrip("/")
    if rest == "/query":
        return "query"
    if rest == "/queryAll":
        return "queryAll"
    if _CURSOR.match(rest):
        return "queryMore"
    if rest == "/composite/sobjects":
        return "composite_update"
    if rest == "/limits":
        return "limits"
    if rest.endswith("/describe"):
        return "describe"
    if rest.startswith("/sobjects/") and rest.count("/") == 3:
        return "retrieve"
    return "unknown"
