"""The Marketo REST client: shared token, shared limiter, 300-record calls, every answer translated.

    client = MarketoClient.from_settings(settings, limiter_for(settings), token_cache_for(settings))
    results = client.sync_leads(records)              # list[RecordResult], by position
    for lead in client.get("leads", "externalPersonId", ids, fields=MSI_FIELDS): ...

Tokens live in the shared TokenCache under a key made from a hash of base URL and client id
(never the secret). A token is fetched under the cache's refresh lock when it is missing or has
less than 60 s left; Identity answers with the SAME token until it expires (DEV/authentication),
so a client asks again at most every few seconds in that last minute. On 601/602 the token is
invalidated and the request re-sent once: the only loop here (architecture.md).

Every REST call runs inside ``limiter.marketo_call(purpose)``; Identity calls do not (they do
not count against Marketo's limits). Answers become exceptions of clients/errors.py:

    601/602 after the one re-send  SessionExpired
    Identity 401 (and 400)         AuthenticationFailed
    606, 615                       Throttled (606: our whole rate window, and the limiter pauses
                                   every worker for that window; 615: 1 s)
    607                            BudgetExhausted until midnight America/Chicago (limiter told)
    5xx, 604, 608, 611, 713,       RetryLater
    timeouts, connection errors
    413, 414, other 6xx/7xx,       RequestRejected with the code
    1xxx at response level, 718

Record-level skips are results (RecordResult), never exceptions. Log lines name the method,
path, HTTP status, Marketo code, duration and record count; never a query string, a token or
the secret (Identity's URL carries the secret, so its transport errors are re-raised without
the underlying exception attached).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import requests

from clients.errors import (
    ApiError,
    AuthenticationFailed,
    BudgetExhausted,
    RequestRejected,
    RetryLater,
    SessionExpired,
    Throttled,
)
from clients.limiter import Limiter, seconds_until_marketo_reset
from clients.token_cache import CachedToken, RefreshBusy, TokenCache
from worker.settings import Settings

log = logging.getLogger(__name__)
_SECRET_IN_URL = re.compile(r"(client_secret=)[^&\s\"']+")


class _RedactSecret(logging.Filter):
    """urllib3 logs request URLs at DEBUG; Identity's URL carries the client secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _SECRET_IN_URL.sub(r"\1***", arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_RedactSecret())

SYSTEM = "marketo"
MAX_RECORDS = 300
MAX_URI_BYTES = 8_192
MAX_BODY_BYTES = 1_048_576
REFRESH_MARGIN = 60.0
# Identity keeps answering with the dying token during its last minute; ask it at most this often.
IDENTITY_RECHECK_SECONDS = 5.0
CONCURRENCY_RETRY = 1.0
# How long a call waits for another worker's token fetch before giving its slot back (retry).
TOKEN_WAIT_SECONDS = 10.0
TOKEN_WAIT_RETRY = 2.0
# How long to wait before re-sending after a transient failure, by code.
RETRY_AFTER = {"604": 5.0, "608": 30.0, "611": 10.0, "713": 30.0, "502": 10.0, "503": 10.0, "http": 10.0}
TRANSIENT = frozenset({"604", "608", "611", "713"})
# Marketo's longest server-side timeout (Sync Leads; other syncs 60 s). A write whose answer was
# lost may still be applied until then.
SERVER_TIMEOUT_SECONDS = 90.0
OBJECT_PATHS = {
    "salespersons": "/rest/v1/salespersons",
    "companies": "/rest/v1/companies",
    "opportunities": "/rest/v1/opportunities",
    "roles": "/rest/v1/opportunities/roles",
    "leads": "/rest/v1/leads",
}
ID_FIELDS = {
    "salespersons": "id",
    "companies": "id",
    "leads": "id",
    "opportunities": "marketoGUID",
    "roles": "marketoGUID",
}


# The check run right before each request of this context leaves (see MarketoClient.guard_sends).
_SEND_GUARD: ContextVar[Callable[[], None] | None] = ContextVar("marketo_send_guard", default=None)


# Plain (not frozen) dataclasses so they satisfy pipeline/ports.py's protocols.
@dataclass
class Reason:
    code: str
    message: str


@dataclass
class RecordResult:
    """What Marketo did with input record `index`: created, updated, deleted or skipped (with reasons)."""

    index: int
    status: str
    marketo_id: str | None
    reasons: tuple[Reason, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status != "skipped"


@dataclass(frozen=True)
class ActivitiesPage:
    activities: list[dict[str, Any]]
    next_page_token: str
    more_result: bool


class MarketoClient:
    """One Marketo instance's REST API, for one purpose ("sync" or "writeback") of the limiter."""

    def __init__(
        self,
        *,
        base_url: str,
        client_id: str,
        client_secret: str,
        limiter: Limiter,
        token_cache: TokenCache,
        timeout: float,
        purpose: str = "sync",
        session: requests.Session | None = None,
        server_timeout: float = SERVER_TIMEOUT_SECONDS,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._client_id = client_id
        self._secret = client_secret
        self._limiter = limiter
        self._tokens = token_cache
        self._timeout = timeout
        self._server_timeout = server_timeout
        self._purpose = purpose
        self._session = session or requests.Session()
        digest = hashlib.sha256(f"{self._base}\0{client_id}".encode()).hexdigest()[:24]
        self.token_key = f"marketo:{digest}"
        self._identity_answered: tuple[str, float] | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, limiter: Limiter, token_cache: TokenCache, purpose: str = "sync"
    ) -> MarketoClient:
        settings.require("MARKETO_BASE_URL", "MARKETO_CLIENT_ID", "MARKETO_CLIENT_SECRET")
        return cls(
            base_url=str(settings.MARKETO_BASE_URL),
            client_id=str(settings.MARKETO_CLIENT_ID),
            client_secret=settings.secret("MARKETO_CLIENT_SECRET"),
            limiter=limiter,
            token_cache=token_cache,
            timeout=settings.MARKETO_TIMEOUT_SECONDS,
            purpose=purpose,
            server_timeout=settings.MARKETO_SERVER_TIMEOUT_SECONDS,
        )

    # --- writes --------------------------------------------------------------------------
    def sync(
        self,
        obj: str,
        records: Sequence[Mapping[str, Any]],
        *,
        action: str = "createOrUpdate",
        dedupe_by: str = "dedupeFields",
    ) -> list[RecordResult]:
        """Upsert sales persons, companies, opportunities or roles; results matched by `seq`."""
        path = _object_path(obj, leads=False)
        _check_batch(records)
        body = self._call(
            "POST",
            f"{path}.json",
            json_body={"action": action, "dedupeBy": dedupe_by, "input": list(records)},
            records=len(records),
            creates=True,
        )
        return _by_seq(body, len(records), ID_FIELDS[obj])

    def sync_leads(
        self,
        records: Sequence[Mapping[str, Any]],
        *,
        action: str = "createOrUpdate",
        lookup_field: str = "externalPersonId",
        partition_name: str | None = None,
    ) -> list[RecordResult]:
        """Upsert leads; results come back without `seq`, in input order (DEV/error-codes)."""
        _check_batch(records)
        payload: dict[str, Any] = {"action": action, "lookupField": lookup_field, "input": list(records)}
        if partition_name is not None:
            payload["partitionName"] = partition_name
        body = self._call("POST", "/rest/v1/leads.json", json_body=payload, records=len(records), creates=True)
        return _by_position(body, len(records))

    def delete(
        self, obj: str, keys: Sequence[Mapping[str, Any]], *, delete_by: str = "dedupeFields"
    ) -> list[RecordResult]:
        """Delete sales persons, companies, opportunities or roles by key (or idField)."""
        path = _object_path(obj, leads=False)
        _check_batch(keys)
        body = self._call(
            "POST", f"{path}/delete.json", json_body={"deleteBy": delete_by, "input": list(keys)}, records=len(keys)
        )
        return _by_seq(body, len(keys), ID_FIELDS[obj])

    def delete_leads(self, ids: Sequence[int]) -> list[RecordResult]:
        _check_batch(ids)
        body = self._call(
            "POST", "/rest/v1/leads/delete.json", json_body={"input": [{"id": i} for i in ids]}, records=len(ids)
        )
        return _by_position(body, len(ids))

    def merge_leads(self, winner_id: int, loser_ids: Sequence[int]) -> None:
        """Merge `loser_ids` into `winner_id` (the winner's values win; losers are deleted)."""
        if not loser_ids:
            raise ValueError("merge_leads needs at least one losing lead")
        param = {"leadId": str(loser_ids[0])} if len(loser_ids) == 1 else {"leadIds": ",".join(map(str, loser_ids))}
        self._call("POST", f"/rest/v1/leads/{int(winner_id)}/merge.json", params=param, records=len(loser_ids) + 1)

    # --- reads ---------------------------------------------------------------------------
    def get(
        self, obj: str, filter_type: str, filter_values: Sequence[Any], *, fields: Sequence[str] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Records whose `filter_type` is one of `filter_values`: 300 values a call, every page.

        Switches to ``POST ...?_method=GET`` with a form body when the URI would pass 8 KB.
        """
        path = _object_path(obj, leads=True) + ".json"
        values = [str(value) for value in filter_values]
        if any("," in value for value in values):
            raise ValueError("filter values containing a comma cannot be queried (Marketo splits on commas)")
        for start in range(0, len(values), MAX_RECORDS):
            chunk = values[start : start + MAX_RECORDS]
            params: dict[str, str] = {"filterType": filter_type, "filterValues": ",".join(chunk)}
            if fields:
                params["fields"] = ",".join(fields)
            yield from self._pages(path, params, len(chunk))

    def _pages(self, path: str, params: dict[str, str], records: int) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            query = {**params, **({"nextPageToken": token} if token else {})}
            if len(f"{self._base}{path}?{urlencode(query)}".encode()) <= MAX_URI_BYTES - 256:
                body = self._call("GET", path, params=query, records=records)
            else:
                body = self._call("POST", path, params={"_method": "GET"}, form_body=query, records=records)
            result = body.get("result") or []
            yield from result
            token = body.get("nextPageToken")
            if not token or not result or body.get("moreResult") is False:
                return

    def get_roles(
        self, keys: Sequence[Mapping[str, Any]], fields: Sequence[str] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Opportunity roles by compound key (externalOpportunityId, leadId, role), JSON `_method=GET`."""
        for start in range(0, len(keys), MAX_RECORDS):
            chunk = [dict(key) for key in keys[start : start + MAX_RECORDS]]
            request: dict[str, Any] = {"filterType": "dedupeFields", "input": chunk}
            if fields:
                request["fields"] = list(fields)
            token: str | None = None
            while True:
                # Paging a compound query re-sends every input with the token (DEV/lead-database).
                payload = {**request, **({"nextPageToken": token} if token else {})}
                body = self._call(
                    "POST",
                    "/rest/v1/opportunities/roles.json",
                    params={"_method": "GET"},
                    json_body=payload,
                    records=len(chunk),
                )
                result = body.get("result") or []
                yield from result
                token = body.get("nextPageToken")
                if not token or not result or body.get("moreResult") is False:
                    break

    def describe(self, obj: str) -> dict[str, Any]:
        """The object's metadata (idField, dedupeFields, searchableFields, fields); leads use describe2."""
        path = "/rest/v1/leads/describe2.json" if obj == "leads" else _object_path(obj, leads=False) + "/describe.json"
        result = self._call("GET", path).get("result") or [{}]
        described: dict[str, Any] = result[0]
        return described

    def activity_types(self) -> list[dict[str, Any]]:
        types: list[dict[str, Any]] = self._call("GET", "/rest/v1/activities/types.json").get("result") or []
        return types

    def paging_token(self, since: datetime) -> str:
        """A token for activities from `since` on (an aware datetime; naive means UTC)."""
        moment = since if since.tzinfo else since.replace(tzinfo=UTC)
        body = self._call(
            "GET",
            "/rest/v1/activities/pagingtoken.json",
            params={"sinceDatetime": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")},
        )
        return str(body["nextPageToken"])

    def activities(
        self, type_ids: Sequence[int], next_page_token: str, *, lead_ids: Sequence[int] | None = None
    ) -> ActivitiesPage:
        """One page (up to 300) of activities of `type_ids` after `next_page_token`."""
        params = {"activityTypeIds": ",".join(map(str, type_ids)), "nextPageToken": next_page_token}
        if lead_ids:
            if len(lead_ids) > 30:
                raise ValueError("Get Lead Activities takes at most 30 lead ids")
            params["leadIds"] = ",".join(map(str, lead_ids))
        body = self._call("GET", "/rest/v1/activities.json", params=params)
        return ActivitiesPage(
            activities=list(body.get("result") or []),
            next_page_token=str(body.get("nextPageToken") or next_page_token),
            more_result=bool(body.get("moreResult")),
        )

    def usage_today(self) -> int:
        """Today's call count of the instance (stats/usage); the limiter learns it too."""
        result = self._call("GET", "/rest/v1/stats/usage.json").get("result") or [{}]
        total = int(result[0].get("total") or 0)
        self._limiter.observe_marketo_quota(total)
        return total

    # --- the call itself -----------------------------------------------------------------
    @contextlib.contextmanager
    def guard_sends(self, check: Callable[[], None]) -> Iterator[None]:
        """Run `check` right before each request of this block leaves, after the token is in
        hand (the limiter's permit, which never waits, comes next); an exception from it stops
        the request unsent.

        A chunk renews its lease here: whatever waited before (a token fetch), the lease is
        fresh when the bytes go out, so no other worker can take the chunk over and
        send the same keys while this request is in flight.
        """
        previous = _SEND_GUARD.set(check)
        try:
            yield
        finally:
            _SEND_GUARD.reset(previous)

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        form_body: Mapping[str, str] | None = None,
        records: int = 0,
        creates: bool = False,
    ) -> dict[str, Any]:
        data = json.dumps(json_body, separators=(",", ":")).encode() if json_body is not None else None
        if data is not None and len(data) > MAX_BODY_BYTES:
            raise ValueError(f"request body of {len(data):,} bytes is over Marketo's 1 MB limit; send fewer records")
        token = self._token()
        body = self._send(method, path, token, params, data, form_body, records, creates)
        if _code(body) in ("601", "602"):
            self._tokens.invalidate(self.token_key, token)
            token = self._token(after_rejection=token)
            body = self._send(method, path, token, params, data, form_body, records, creates)
        _raise_for(body, self._limiter)
        return body

    def _send(
        self,
        method: str,
        path: str,
        token: str,
        params: Mapping[str, str] | None,
        data: bytes | None,
        form: Mapping[str, str] | None,
        records: int,
        creates: bool,
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        started = time.monotonic()
        status: int | str = "-"
        code: str | None = None
        guard = _SEND_GUARD.get()
        if guard is not None:
            # Before the permit, not inside it: the limiter counts a call from its admission,
            # and a slow guard (a database round trip) between the two would make the call
            # reach Marketo later than the limiter believes, and its window overflow.
            guard()
        sent_at: float | None = None  # set once the request leaves: the limiter may refuse it first
        try:
            with self._limiter.marketo_call(self._purpose):
                try:
                    sent_at = time.monotonic()
                    response = self._session.request(
                        method,
                        self._base + path,
                        params=params,
                        data=data if data is not None else form,
                        headers=headers,
                        timeout=self._timeout,
                    )
                except requests.Timeout as exc:
                    status = "timeout"
                    raise RetryLater(
                        f"{method} {path} timed out after {self._timeout:g}s",
                        system=SYSTEM,
                        code="timeout",
                        retry_after=RETRY_AFTER["http"],
                    ) from exc
                except requests.RequestException as exc:
                    status = "connection-error"
                    raise RetryLater(
                        f"{method} {path} failed: {type(exc).__name__}",
                        system=SYSTEM,
                        code="connection",
                        retry_after=RETRY_AFTER["http"],
                    ) from exc
            status = response.status_code
            body = _json_or_raise(response, method, path)
            code = _code(body)
            return body
        except RetryLater as lost:
            if creates and sent_at is not None and not isinstance(lost, Throttled):
                self._hold_unanswered_write(lost, sent_at)
            raise
        finally:
            log.info(
                "marketo %s %s -> %s code=%s %.0fms records=%d",
                method,
                path,
                status,
                code or "-",
                (time.monotonic() - started) * 1000,
                records,
            )

    def _hold_unanswered_write(self, lost: RetryLater, sent_at: float) -> None:
        """A create whose answer was lost (a 5xx, a dropped connection) may still be running in
        Marketo; a second copy in flight with the same new keys creates the records twice. So it
        is not sent again before Marketo's server timeout has passed since it left."""
        left = self._server_timeout - (time.monotonic() - sent_at)
        if left > lost.retry_after:
            lost.retry_after = left
            lost.message = f"{lost.message} (Marketo may still apply it: not re-sent for {left:.0f}s)"

    # --- tokens --------------------------------------------------------------------------
    def _token(self, after_rejection: str | None = None) -> str:
        cached = self._tokens.get(self.token_key)
        if after_rejection is None and cached is not None and self._fresh(cached):
            return cached.token
        try:
            # A holder killed mid-fetch keeps the lock at most as long as its fetch could last.
            with self._tokens.refresh_lock(self.token_key, hold=self._timeout + 5.0, wait=TOKEN_WAIT_SECONDS):
                cached = self._tokens.get(self.token_key)  # another worker may have refreshed it meanwhile
                if cached is not None and cached.token != after_rejection and self._fresh(cached):
                    return cached.token
                if after_rejection is None and cached is not None and self._recently_confirmed(cached.token):
                    return cached.token
                fetched = self._identity()
                self._tokens.put(self.token_key, fetched)
                return fetched.token
        except RefreshBusy:
            raise RetryLater(
                "another worker is still fetching the Marketo access token",
                system=SYSTEM,
                code="token-wait",
                retry_after=TOKEN_WAIT_RETRY,
            ) from None

    def _fresh(self, cached: CachedToken) -> bool:
        return cached.expires_at - time.time() > REFRESH_MARGIN

    def _recently_confirmed(self, token: str) -> bool:
        answered = self._identity_answered
        if answered is None or answered[0] != token:
            return False
        return time.monotonic() - answered[1] < IDENTITY_RECHECK_SECONDS

    def _identity(self) -> CachedToken:
        started = time.monotonic()
        params = {"grant_type": "client_credentials", "client_id": self._client_id, "client_secret": self._secret}
        try:
            response = self._session.get(self._base + "/identity/oauth/token", params=params, timeout=self._timeout)
        except requests.RequestException:
            log.info("marketo GET /identity/oauth/token -> failed %.0fms", (time.monotonic() - started) * 1000)
            # The exception's text holds the URL, and the URL holds the secret: do not chain it.
            raise RetryLater(
                "Marketo Identity could not be reached",
                system=SYSTEM,
                code="connection",
                retry_after=RETRY_AFTER["http"],
            ) from None
        log.info(
            "marketo GET /identity/oauth/token -> %s %.0fms", response.status_code, (time.monotonic() - started) * 1000
        )
        if response.status_code in (400, 401):
            raise AuthenticationFailed(
                f"Marketo Identity refused the client credentials: {_oauth_error(response)}",
                system=SYSTEM,
                code=str(response.status_code),
                http_status=response.status_code,
            )
        if response.status_code != 200:
            raise RetryLater(
                f"Marketo Identity answered HTTP {response.status_code}",
                system=SYSTEM,
                code=str(response.status_code),
                http_status=response.status_code,
                retry_after=RETRY_AFTER["http"],
            )
        try:
            body = response.json()
            token, expires_in = str(body["access_token"]), float(body["expires_in"])
        except (ValueError, KeyError, TypeError):
            raise RetryLater(
                "Marketo Identity answered without a token",
                system=SYSTEM,
                code="identity",
                retry_after=RETRY_AFTER["http"],
            ) from None
        if expires_in <= REFRESH_MARGIN:
            # Identity hands out the same dying token until it expires; remember that we asked.
            self._identity_answered = (token, time.monotonic())
        return CachedToken(token=token, expires_at=time.time() + expires_in)


# --- helpers ---------------------------------------------------------------------------
def _object_path(obj: str, *, leads: bool) -> str:
    if obj not in OBJECT_PATHS or (obj == "leads" and not leads):
        hint = "" if leads else "; leads have their own methods"
        raise ValueError(f"unknown Marketo object {obj!r}{hint}")
    return OBJECT_PATHS[obj]


def _check_batch(records: Sequence[Any]) -> None:
    if not records:
        raise ValueError("nothing to send")
    if len(records) > MAX_RECORDS:
        raise ValueError(f"{len(records)} records; Marketo takes at most {MAX_RECORDS} per call")


def _code(body: Mapping[str, Any]) -> str | None:
    if body.get("success", True):
        return None
    errors = body.get("errors") or [{}]
    return str(errors[0].get("code") or "unknown")


def _oauth_error(response: requests.Response) -> str:
    try:
        body = response.json()
        return f"{body.get('error', '?')}: {body.get('error_description', '')}".strip()
    except ValueError:
        return f"HTTP {response.status_code}"


def _json_or_raise(response: requests.Response, method: str, path: str) -> dict[str, Any]:
    status = response.status_code
    if status in (413, 414):
        raise RequestRejected(
            f"{method} {path}: HTTP {status} (request too large)", system=SYSTEM, code=str(status), http_status=status
        )
    if status >= 500:
        raise RetryLater(
            f"{method} {path}: HTTP {status}",
            system=SYSTEM,
            code=str(status),
            http_status=status,
            retry_after=RETRY_AFTER.get(str(status), RETRY_AFTER["http"]),
        )
    if status != 200:
        raise RequestRejected(f"{method} {path}: HTTP {status}", system=SYSTEM, code=str(status), http_status=status)
    try:
        body = response.json()
    except ValueError:
        raise RetryLater(
            f"{method} {path}: the answer was not JSON",
            system=SYSTEM,
            code="not-json",
            http_status=status,
            retry_after=RETRY_AFTER["http"],
        ) from None
    if not isinstance(body, dict):
        raise RetryLater(f"{method} {path}: unexpected answer", system=SYSTEM, code="not-json", http_status=status)
    return body


def _raise_for(body: Mapping[str, Any], limiter: Limiter) -> None:
    code = _code(body)
    if code is None:
        return
    errors = body.get("errors") or [{}]
    message = str(errors[0].get("message") or "")
    request_id = str(body.get("requestId")) if body.get("requestId") else None
    common: dict[str, Any] = {"system": SYSTEM, "code": code, "request_id": request_id}
    text = f"{code} {message}".strip()
    if code in ("601", "602"):
        raise SessionExpired(f"token refused again after a fresh one: {text}", **common)
    if code == "606":
        # The limiter admitted this call, so Marketo's window holds calls we did not make.
        log.warning(
            "Marketo answered 606 to a call the limiter admitted: another integration shares this "
            "instance's rate limit; pausing every worker's calls for one window (lower "
            "MARKETO_CALLS_PER_20S if this repeats)"
        )
        limiter.observe_marketo_rate_refusal()
        raise Throttled(text, retry_after=limiter.config.marketo_window_seconds, **common)
    if code == "615":
        raise Throttled(text, retry_after=CONCURRENCY_RETRY, **common)
    if code == "607":
        limiter.observe_marketo_quota(limiter.config.marketo_daily_quota)
        raise BudgetExhausted(text, retry_after=seconds_until_marketo_reset(time.time()), **common)
    if code in TRANSIENT:
        raise RetryLater(text, retry_after=RETRY_AFTER[code], **common)
    raise RequestRejected(text, **common)


def _reasons(item: Mapping[str, Any]) -> tuple[Reason, ...]:
    return tuple(Reason(str(r.get("code")), str(r.get("message", ""))) for r in item.get("reasons") or ())


def _result(index: int, item: Mapping[str, Any], id_field: str) -> RecordResult:
    marketo_id = item.get(id_field)
    return RecordResult(
        index=index,
        status=str(item.get("status", "skipped")),
        marketo_id=None if marketo_id is None else str(marketo_id),
        reasons=_reasons(item),
    )


def _mismatch(what: str) -> ApiError:
    return RequestRejected(f"results do not match the input: {what}", system=SYSTEM, code="result-mismatch")


def _by_seq(body: Mapping[str, Any], expected: int, id_field: str) -> list[RecordResult]:
    found: dict[int, RecordResult] = {}
    for item in body.get("result") or []:
        seq = item.get("seq")
        if not isinstance(seq, int) or not 0 <= seq < expected or seq in found:
            raise _mismatch(f"seq {seq!r}")
        found[seq] = _result(seq, item, id_field)
    if len(found) != expected:
        raise _mismatch(f"{len(found)} results for {expected} records")
    return [found[index] for index in range(expected)]


def _by_position(body: Mapping[str, Any], expected: int) -> list[RecordResult]:
    items = body.get("result") or []
    if len(items) != expected:
        raise _mismatch(f"{len(items)} results for {expected} records")
    return [_result(index, item, "id") for index, item in enumerate(items)]
