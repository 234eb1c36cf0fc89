"""The Salesforce client: our own OAuth token, simple-salesforce for REST, budgets, ids and errors at the boundary.

Every call to /services/data asks the shared limiter first and reports Sforce-Limit-Info back to
it; both happen in the HTTP session, so query pages and the re-send after a re-authentication are
counted like any other call. The one loop here: a 401 INVALID_SESSION_ID gets one new token and one
re-send with our own headers (simple-salesforce would drop them). Everything else is translated
into clients.errors and left to the Celery task to retry.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import jwt
import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceRefusedRequest,
)

from clients import sfids
from clients.errors import (
    ApiError,
    AuthenticationFailed,
    BudgetExhausted,
    GuardError,
    RequestRejected,
    RetryLater,
    SessionExpired,
)
from clients.limiter import SYNC, Limiter

if TYPE_CHECKING:
    from worker.settings import Settings

log = logging.getLogger(__name__)

SYSTEM = "salesforce"
MAX_UPDATE_BATCH = 200
# The daily allocation is a rolling 24 h window we cannot see into; an hour is a fair first wait.
LIMIT_RETRY_SECONDS = 3600.0
JWT_LIFETIME_SECONDS = 180
_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")
_SOBJECT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_TYPE_BY_PREFIX = {
    sfids.PREFIX_LEAD: "Lead",
    sfids.PREFIX_CONTACT: "Contact",
    sfids.PREFIX_ACCOUNT: "Account",
    sfids.PREFIX_OPPORTUNITY: "Opportunity",
    sfids.PREFIX_CONTACT_ROLE: "OpportunityContactRole",
    sfids.PREFIX_USER: "User",
}
T = TypeVar("T")


@dataclass(frozen=True)
class Identity:
    """Who the token acts as: from the token response's id URL (.../id/{orgId}/{userId})."""

    org_id: str
    user_id: str
    instance_url: str


@dataclass(frozen=True)
class QueryPage:
    """One page of a query: records (ids normalised), where the next page is, the total size."""

    records: list[dict[str, Any]]
    next_records_url: str | None
    total_size: int


@dataclass(frozen=True)
class SaveResult:
    """One record's outcome of an update, in input order; errors are (statusCode, message, fields)."""

    id: str | None
    success: bool
    errors: tuple[tuple[str, str, tuple[str, ...]], ...] = ()


class _ApiSession(requests.Session):
    """A requests session that times out every call, asks the limiter before each /services/data
    call, reports the usage header after it, and logs one line per call. A caller's own session,
    if given, does the sending (its adapters, proxies and certificates apply)."""

    def __init__(
        self,
        timeout: float,
        before_data_call: Callable[[], None],
        on_usage: Callable[[int, int], None],
        transport: requests.Session | None = None,
    ) -> None:
        super().__init__()
        self._timeout = timeout
        self._before_data_call = before_data_call
        self._on_usage = on_usage
        self._transport = transport

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self._timeout)
        text_url = url.decode() if isinstance(url, bytes) else url
        path = urlsplit(text_url).path  # never the query string: SOQL can hold personal data
        verb = method.decode() if isinstance(method, bytes) else method
        if "/services/data/" in path:
            self._before_data_call()
        started = time.monotonic()
        try:
            send = self._transport.request if self._transport is not None else super().request
            response = send(method, url, *args, **kwargs)
        except requests.RequestException as error:
            log.info(
                "salesforce %s %s failed (%s) %.0fms",
                verb,
                path,
                type(error).__name__,
                (time.monotonic() - started) * 1000,
            )
            raise
        log.info("salesforce %s %s %s %.0fms", verb, path, response.status_code, (time.monotonic() - started) * 1000)
        usage = _USAGE.search(response.headers.get("Sforce-Limit-Info", ""))
        if usage:
            self._on_usage(int(usage.group(1)), int(usage.group(2)))
        return response


class SalesforceClient:
    """Reads and writes one Salesforce org over REST, within the shared budget."""

    def __init__(
        self,
        *,
        login_url: str,
        client_id: str,
        client_secret: str | None,
        api_version: str,
        limiter: Limiter,
        timeout: float,
        purpose: str = SYNC,
        username: str | None = None,
        private_key: str | None = None,
        session: requests.Session | None = None,
    ) -> None:
        if (username is None) != (private_key is None):
            raise ValueError("username and private_key go together (JWT bearer)")
        if username is None and not client_secret:
            raise ValueError("client credentials need a client secret")
        self._login_url = login_url.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self._username = username
        self._private_key = private_key
        self._api_version = api_version
        self._limiter = limiter
        self._purpose = purpose
        self._session = _ApiSession(timeout, self._admit, limiter.observe_salesforce_usage, transport=session)
        self._lock = threading.Lock()
        self._sf: Salesforce | None = None
        self._identity: Identity | None = None

    @classmethod
    def from_settings(cls, settings: Settings, limiter: Limiter, purpose: str = SYNC) -> SalesforceClient:
        settings.require("SALESFORCE_LOGIN_URL", "SALESFORCE_CLIENT_ID")
        jwt_login = settings.SALESFORCE_USERNAME is not None
        if not jwt_login:
            settings.require("SALESFORCE_CLIENT_SECRET")
        return cls(
            login_url=str(settings.SALESFORCE_LOGIN_URL),
            client_id=str(settings.SALESFORCE_CLIENT_ID),
            client_secret=settings.secret("SALESFORCE_CLIENT_SECRET") if settings.SALESFORCE_CLIENT_SECRET else None,
            api_version=settings.SALESFORCE_API_VERSION,
            limiter=limiter,
            timeout=settings.SALESFORCE_TIMEOUT_SECONDS,
            purpose=purpose,
            username=settings.SALESFORCE_USERNAME,
            private_key=_pem(settings.secret("SALESFORCE_PRIVATE_KEY")) if jwt_login else None,
        )

    def __repr__(self) -> str:
        return f"SalesforceClient(login_url={self._login_url!r}, purpose={self._purpose!r})"

    # --- authentication ----------------------------------------------------------------------
    def _admit(self) -> None:
        self._limiter.acquire_salesforce(self._purpose)

    def _connection(self) -> Salesforce:
        with self._lock:
            if self._sf is None:
                self._authenticate()
            assert self._sf is not None
            return self._sf

    def _reauthenticate(self, stale: Salesforce) -> Salesforce:
        with self._lock:
            if self._sf is stale:  # another thread may have refreshed it already
                self._authenticate()
            assert self._sf is not None
            return self._sf

    def _authenticate(self) -> None:
        url = f"{self._login_url}/services/oauth2/token"
        if self._username is not None:
            form = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": self._assertion()}
            auth = None
        else:
            form = {"grant_type": "client_credentials"}
            auth = (self._client_id, self._client_secret or "")
        try:
            response = self._session.post(url, data=form, auth=auth)
        except requests.RequestException as error:
            raise RetryLater(f"token request failed: {type(error).__name__}", system=SYSTEM) from error
        body = _json_or_none(response)
        if response.status_code >= 500:
            raise RetryLater(
                "token endpoint unavailable",
                system=SYSTEM,
                code=str(response.status_code),
                http_status=response.status_code,
            )
        if response.status_code != 200 or not isinstance(body, dict) or "access_token" not in body:
            code = str(body.get("error")) if isinstance(body, dict) else str(response.status_code)
            described = str(body.get("error_description", "")) if isinstance(body, dict) else ""
            raise AuthenticationFailed(
                f"Salesforce refused the credentials: {code} {described}".strip(),
                system=SYSTEM,
                code=code,
                http_status=response.status_code,
            )
        identity = _identity_from(body)
        if self._identity is not None and identity.org_id != self._identity.org_id:
            # Same credentials, another org (a sandbox refreshed or re-pointed mid-run): nothing
            # read or written from here on could be trusted to belong to the recorded org.
            raise GuardError(
                f"the Salesforce org changed while connected (was {self._identity.org_id}, now "
                f"{identity.org_id}); run `msi-sync connect` to decide what to do"
            )
        self._identity = identity
        self._sf = Salesforce(
            instance_url=self._identity.instance_url,
            session_id=str(body["access_token"]),
            version=self._api_version,
            session=self._session,
            object_pairs_hook=dict,
        )

    def _assertion(self) -> str:
        claims = {
            "iss": self._client_id,
            "sub": self._username,
            "aud": self._login_url,
            "exp": int(time.time()) + JWT_LIFETIME_SECONDS,
        }
        return jwt.encode(claims, self._private_key or "", algorithm="RS256")

    def identity(self) -> Identity:
        self._connection()
        assert self._identity is not None
        return self._identity

    # --- the one retry: re-authenticate once and re-send --------------------------------------------
    def _call(self, what: str, send: Callable[[Salesforce], T]) -> T:
        sf = self._connection()
        try:
            try:
                return send(sf)
            except SalesforceExpiredSession:
                log.info("salesforce session expired during %s; re-authenticating once", what)
                sf = self._reauthenticate(sf)
                return send(sf)
        except SalesforceError as error:
            raise _translate(error, what) from error
        except requests.Timeout as error:
            raise RetryLater(f"{what} timed out", system=SYSTEM, code="timeout") from error
        except requests.RequestException as error:
            raise RetryLater(f"{what} failed: {type(error).__name__}", system=SYSTEM, code="connection") from error
        except ValueError as error:  # a body that is not JSON
            raise RetryLater(f"{what}: unreadable response", system=SYSTEM, code="bad_response") from error

    # --- reads -----------------------------------------------------------------------------------
    def query(self, soql: str, *, include_deleted: bool = False) -> Iterator[QueryPage]:
        """Pages of a query, fetched one at a time as the caller asks for them."""
        page = self._call("query", lambda sf: _page(sf.query(soql, include_deleted=include_deleted)))
        yield page
        while page.next_records_url:
            page = self.query_page(page.next_records_url)
            yield page

    def query_page(self, next_records_url: str) -> QueryPage:
        """The page a stored nextRecordsUrl points at (resume a query where it stopped)."""
        return self._call("queryMore", lambda sf: _page(sf.query_more(next_records_url, identifier_is_url=True)))

    def describe(self, sobject: str) -> dict[str, Any]:
        if not _SOBJECT_NAME.fullmatch(sobject):
            raise ValueError(f"not an sObject name: {sobject!r}")
        result = self._call("describe", lambda sf: sf.restful(f"sobjects/{sobject}/describe"))
        return dict(result or {})

    def limits(self) -> dict[str, Any]:
        return dict(self._call("limits", lambda sf: sf.limits()) or {})

    def is_sandbox(self) -> bool:
        page = next(self.query("SELECT IsSandbox FROM Organization LIMIT 1"))
        return bool(page.records and page.records[0].get("IsSandbox"))

    # --- writes ----------------------------------------------------------------------------------
    def update(self, records: list[dict[str, Any]]) -> list[SaveResult]:
        """Update up to 200 records in one sObject Collections call (allOrNone false, no
        assignment rules); one SaveResult per record, in input order."""
        if len(records) > MAX_UPDATE_BATCH:
            raise ValueError(f"at most {MAX_UPDATE_BATCH} records per update, got {len(records)}")
        if not records:
            return []
        payload = [_outgoing(record) for record in records]
        body = {"allOrNone": False, "records": payload}
        headers = {"Sforce-Auto-Assign": "FALSE"}
        results = self._call(
            "update", lambda sf: sf.restful("composite/sobjects", method="PATCH", json=body, headers=headers)
        )
        if not isinstance(results, list) or len(results) != len(payload):
            raise RetryLater("update: the answer does not match the records sent", system=SYSTEM, code="bad_response")
        return [_save_result(sent["id"], result) for sent, result in zip(payload, results, strict=True)]


# --- translation --------------------------------------------------------------------------------
def _translate(error: SalesforceError, what: str) -> ApiError:
    """simple-salesforce's exception (HTTP status + Salesforce's error list) -> our tree."""
    status = int(error.status)
    code = _error_code(error.content) or str(status)
    message = f"{what} failed: HTTP {status} {code}"
    common: dict[str, Any] = {"system": SYSTEM, "code": code, "http_status": status}
    if isinstance(error, SalesforceExpiredSession):
        return SessionExpired(f"{what}: the session stayed invalid after re-authenticating", **common)
    if isinstance(error, SalesforceRefusedRequest) and code == "REQUEST_LIMIT_EXCEEDED":
        return BudgetExhausted(
            f"{what}: the org's daily API limit is exceeded", retry_after=LIMIT_RETRY_SECONDS, **common
        )
    if status >= 500 or status in (408, 429):
        return RetryLater(message, **common)
    # INVALID_QUERY_LOCATOR lands here: re-sending the same cursor cannot help; the caller
    # starts the query again.
    return RequestRejected(message, **common)


def _error_code(content: Any) -> str | None:
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("errorCode") or "") or None
    if isinstance(content, dict):
        return str(content.get("errorCode") or content.get("error") or "") or None
    return None


def _identity_from(body: dict[str, Any]) -> Identity:
    parts = str(body.get("id", "")).rstrip("/").split("/")
    try:
        org_id, user_id = sfids.to_18(parts[-2]), sfids.to_18(parts[-1])
    except (IndexError, sfids.InvalidSalesforceId) as error:
        raise AuthenticationFailed("the token response has no usable identity URL", system=SYSTEM) from error
    return Identity(org_id=org_id, user_id=user_id, instance_url=str(body.get("instance_url", "")).rstrip("/"))


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _pem(value: str) -> str:
    """The private key setting holds the PEM itself or a path to it."""
    if value.lstrip().startswith("-----BEGIN"):
        return value
    return Path(value).read_text()


# --- records ------------------------------------------------------------------------------------
def _page(body: Any) -> QueryPage:
    if not isinstance(body, dict):
        raise ValueError("not a query result")
    return QueryPage(
        records=[normalise_record(record) for record in body.get("records", [])],
        next_records_url=body.get("nextRecordsUrl") or None,
        total_size=int(body.get("totalSize", 0)),
    )


def normalise_record(record: dict[str, Any]) -> dict[str, Any]:
    """A record as the service uses it: `attributes` replaced by `_type`, every id field in its
    18-character form. An id field whose value is not a valid id keeps its value and is named in
    `_invalid_ids`, so the page goes on and the pipeline can reject that one record."""
    out: dict[str, Any] = {}
    invalid: list[str] = []
    for name, value in record.items():
        if name == "attributes":
            if isinstance(value, dict) and value.get("type"):
                out["_type"] = value["type"]
            continue
        if isinstance(value, dict):
            value = normalise_record(value)
        elif isinstance(value, str) and value and (name == "Id" or name.endswith("Id")):
            try:
                value = sfids.to_18(value)
            except sfids.InvalidSalesforceId:
                invalid.append(name)
        out[name] = value
    if invalid:
        out["_invalid_ids"] = tuple(invalid)
    return out


def _outgoing(record: dict[str, Any]) -> dict[str, Any]:
    """Our record shape (Id or id, _type or attributes) -> the collections body's shape."""
    fields = {k: v for k, v in record.items() if k not in ("attributes", "_type", "Id", "id", "_invalid_ids")}
    raw_id = record.get("Id", record.get("id"))
    if not isinstance(raw_id, str):
        raise ValueError("every record to update needs its Id")
    record_id = sfids.to_18(raw_id) if sfids.is_valid(raw_id) else raw_id
    attributes = record.get("attributes")
    sobject = record.get("_type") or (attributes.get("type") if isinstance(attributes, dict) else None)
    sobject = sobject or _TYPE_BY_PREFIX.get(record_id[:3])
    if not sobject:
        raise ValueError(f"cannot tell the object type of {record_id!r}: give _type")
    return {"attributes": {"type": sobject}, "id": record_id, **fields}


def _save_result(sent_id: str, result: Any) -> SaveResult:
    if not isinstance(result, dict):
        return SaveResult(id=sent_id, success=False, errors=(("UNKNOWN", "unreadable result", ()),))
    errors = tuple(
        (str(e.get("statusCode", "")), str(e.get("message", "")), tuple(str(f) for f in e.get("fields") or ()))
        for e in result.get("errors") or ()
        if isinstance(e, dict)
    )
    # Salesforce leaves out the id of a record it did not update; the input order tells us which.
    returned = result.get("id")
    return SaveResult(
        id=sfids.to_18(str(returned)) if sfids.is_valid(returned) else sent_id,
        success=bool(result.get("success")),
        errors=errors,
    )
