"""The simulator's WSGI app: gateway checks, Identity, token checks, limits, faults, then the handler.

Order of checks for a REST call, each with its source:

1. URI over 8 KB -> HTTP 414, body over 1 MB -> HTTP 413 (DEV/error-codes). Plain HTML bodies as
   a web gateway sends them (decision: Adobe documents only the status).
2. Token (DEV/authentication): only ``Authorization: Bearer``. A token sent as the
   ``access_token`` query or form parameter is ignored, as the parameter was removed on
   2026-08-31 (reference §1), so such a call has no token and answers 600 "Access token not
   specified" (Adobe KB lists 600 "Empty access token"; decision). 601 unknown, 602 expired.
3. Route: 610 unknown resource, 605 wrong method.
4. Faults that answer before the API runs (502/503/608/606/615/early token expiry).
5. Limits (``limits.py``): 607 quota, 606 rate, 615 concurrency.
6. The handler, with its processing time slept while the call holds its in-flight slot, so
   concurrency is real; faults ``timeout`` and ``applied_604`` wrap it.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from werkzeug.wrappers import Request, Response

from simulators.marketo import control, routes
from simulators.marketo.auth import IdentityError, TokenCheck
from simulators.marketo.context import SimContext
from simulators.marketo.envelope import MarketoError, failure
from simulators.marketo.handlers import Call, Outcome

_BEARER = re.compile(r"^\s*bearer\s+(\S+)\s*$", re.IGNORECASE)
_MESSAGES = {
    "600": "Access token not specified",
    "601": "Access token invalid",
    "602": "Access token expired",
    "604": "Request time-out",
    "606": "Max rate limit '{calls}' exceeded with in '{window}' secs",
    "607": "Daily quota reached",
    "608": "API Temporarily Unavailable",
    "615": "Concurrent access limit reached",
}


def json_response(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status=status, mimetype="application/json")


def html_response(status: int, title: str) -> Response:
    page = f"<html><head><title>{status} {title}</title></head><body><h1>{title}</h1></body></html>"
    return Response(page, status=status, mimetype="text/html")


class MarketoApp:
    """WSGI callable for one simulated instance."""

    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        started = time.time()
        entry: dict[str, Any] = {
            "operation": "unknown",
            "obj": None,
            "records": 0,
            "error_code": None,
            "record_codes": {},
            "detail": {},
        }
        if request.path.startswith("/_sim/"):
            response = control.handle(self.ctx, request)
            return response(environ, start_response)
        if request.path == "/identity/oauth/token":
            response = self._identity(request, entry)
        elif request.path.startswith("/rest/"):
            response = self._rest(request, entry)
        else:
            response = html_response(404, "Not Found")
        self.ctx.log.append(
            started=started,
            ended=time.time(),
            method=request.method,
            path=request.path,
            http_status=response.status_code,
            **entry,
        )
        return response(environ, start_response)

    # --- Identity ------------------------------------------------------------------------
    def _identity(self, request: Request, entry: dict[str, Any]) -> Response:
        entry["operation"] = "identity"
        if request.method not in ("GET", "POST"):
            return html_response(405, "Method Not Allowed")
        params = {**request.args.to_dict(), **(request.form.to_dict() if request.method == "POST" else {})}
        try:
            body = self.ctx.identity.token_for(
                params.get("client_id"), params.get("client_secret"), params.get("grant_type")
            )
        except IdentityError as error:
            entry["error_code"] = error.body.get("error")
            return json_response(error.body, error.status)
        return json_response(body)

    # --- REST ----------------------------------------------------------------------------
    def _rest(self, request: Request, entry: dict[str, Any]) -> Response:
        ctx = self.ctx
        override = request.method == "POST" and request.args.get("_method") == "GET"
        method = "GET" if override else request.method
        entry["operation"], entry["obj"] = routes.guess(method, request.path)
        raw_uri = request.environ.get("RAW_URI") or request.full_path
        if len(raw_uri.encode()) > ctx.config.max_uri_bytes:
            entry["error_code"] = "414"
            return html_response(414, "Request-URI Too Long")
        if (request.content_length or 0) > ctx.config.max_body_bytes:
            _drain(request)
            entry["error_code"] = "413"
            response = html_response(413, "Request Entity Too Large")
            response.headers["Connection"] = "close"
            return response
        token = _bearer(request)
        check = ctx.identity.check(token)
        if check.code is not None:
            return self._refuse(entry, check.code, check.message or "", counted_for=None)
        user = str(check.user)
        route, path_params, known = routes.resolve(method, request.path)
        if route is None:
            if known:
                return self._refuse(entry, "605", f"Request method '{request.method}' not supported", counted_for=user)
            return self._refuse(entry, "610", "Requested resource not found", counted_for=user)
        entry["operation"], entry["obj"] = route.operation, route.obj
        early = self._early_fault(token, check)
        if early is not None:
            if isinstance(early, Response):
                entry["error_code"] = str(early.status_code)
                return early
            return self._refuse(entry, early, self._message(early), counted_for=user)
        admission, refused = ctx.limits.admit(user)
        if refused is not None:
            entry["error_code"] = refused
            ctx.limits.finish(None, None, user, refused)
            return json_response(failure(refused, self._message(refused)))
        code: str | None = None
        try:
            call = Call(ctx, request, route.obj, path_params, override, self._pause)
            if ctx.faults.fires("timeout"):
                time.sleep(ctx.faults.timeout_seconds)
            outcome = self._run(route.handler, call)
            entry.update(records=outcome.records, record_codes=outcome.record_codes)
            entry["detail"] = {k: v for k, v in call.detail.items() if v is not None}
            body = outcome.body
            if ctx.faults.fires("applied_604"):
                body = failure("604", _MESSAGES["604"])
            if not body.get("success"):
                code = body["errors"][0]["code"]
            entry["error_code"] = code
            return json_response(body)
        finally:
            ctx.limits.finish(admission, None, user, code)

    def _run(self, handler: routes.Handler, call: Call) -> Outcome:
        try:
            return handler(call)
        except MarketoError as error:
            return Outcome(failure(error.code, error.message))

    def _pause(self, records: int) -> None:
        delay = self.ctx.config.latency(records)
        if delay > 0:
            time.sleep(delay)

    def _early_fault(self, token: str | None, check: TokenCheck) -> Response | str | None:
        faults = self.ctx.faults
        if faults.fires("http_502"):
            return html_response(502, "Bad Gateway")
        if faults.fires("http_503"):
            return html_response(503, "Service Unavailable")
        if faults.fires("temporarily_unavailable_608"):
            return "608"
        if faults.fires("burst_606"):
            return "606"
        if faults.fires("burst_615"):
            return "615"
        if token is not None and faults.fires("early_token_expiry"):
            self.ctx.identity.expire(token)
            return "602"
        return None

    def _message(self, code: str) -> str:
        config = self.ctx.config
        window = config.window_seconds
        return _MESSAGES.get(code, "").format(calls=config.calls_per_window, window=f"{window:g}")

    def _refuse(self, entry: dict[str, Any], code: str, message: str, *, counted_for: str | None) -> Response:
        entry["error_code"] = code
        if counted_for is not None:
            at = self.ctx.limits.count_only(counted_for)
            self.ctx.limits.finish(None, at, counted_for, code)
        return json_response(failure(code, message or self._message(code)))


def _bearer(request: Request) -> str | None:
    match = _BEARER.match(request.headers.get("Authorization", ""))
    return match.group(1) if match else None


def _drain(request: Request) -> None:
    """Read and drop an oversized body so the connection stays in a sane state."""
    stream = request.stream
    while stream.read(65_536):
        pass
