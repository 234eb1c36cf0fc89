"""The one exception tree of the service; each class says what the caller should do next.

    MsiSyncError                      base of everything we raise on purpose
    ├── ConfigurationError            a setting is missing or malformed: fix it, then restart
    ├── GuardError                    the org/environment guard refused (production -> sandbox)
    └── ApiError                      an external API call did not do its job
        ├── RetryLater                transient (5xx, timeouts, 604, 608, 611, 713, lock rows):
        │   │                         re-run the same request after `retry_after` seconds
        │   └── Throttled             a rate or concurrency limit (ours, or 606/615): wait, retry
        ├── BudgetExhausted           a daily budget is spent (607, REQUEST_LIMIT_EXCEEDED, ours):
        │                             wait until `retry_after` (the reset), do not hammer
        ├── SessionExpired            token invalid/expired (601, 602, INVALID_SESSION_ID):
        │                             re-authenticate once and re-send; the clients do this
        ├── AuthenticationFailed      credentials rejected: a person must fix them (notify)
        └── RequestRejected           the request itself is wrong (6xx/7xx, 400, 413, 414,
                                      718): retrying the same request cannot help

Record-level problems (a skipped lead, a failed SaveResult) are not exceptions: the clients
return them as results, and the pipeline stores them in the failures table.
"""

from __future__ import annotations


class MsiSyncError(Exception):
    """Base class: every error the service raises on purpose."""

    action = "fatal"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigurationError(MsiSyncError):
    """A setting is missing or malformed; start-up stops and names it."""

    action = "fix-configuration"

    def __init__(self, message: str, *, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting


class GuardError(MsiSyncError):
    """The connected org or environment is not the one recorded; nothing runs until resolved."""

    action = "fix-connection"


class ApiError(MsiSyncError):
    """An external API did not do what was asked.

    `system` is "salesforce" or "marketo"; `code` is the API's own code (Marketo's "606",
    Salesforce's "UNABLE_TO_LOCK_ROW", or an HTTP status as a string); `request_id` is what
    the vendor's support asks for. Messages never carry tokens or secrets.
    """

    action = "fatal"

    def __init__(
        self,
        message: str,
        *,
        system: str,
        code: str | None = None,
        http_status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.system = system
        self.code = code
        self.http_status = http_status
        self.request_id = request_id

    def __str__(self) -> str:
        parts = [f"{self.system}: {self.message}"]
        if self.code:
            parts.append(f"code={self.code}")
        if self.request_id:
            parts.append(f"requestId={self.request_id}")
        return " ".join(parts)


class RetryLater(ApiError):
    """Transient failure: the same request may succeed if re-sent after `retry_after` seconds."""

    action = "retry"

    def __init__(self, message: str, *, retry_after: float = 5.0, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class Throttled(RetryLater):
    """A rate or concurrency limit says wait; not a failure of the request."""

    action = "wait"


class BudgetExhausted(ApiError):
    """A daily budget is spent; wait for its reset instead of trying again soon."""

    action = "wait-for-budget"

    def __init__(self, message: str, *, retry_after: float, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class SessionExpired(ApiError):
    """The access token is no longer valid; get a new one and re-send."""

    action = "reauthenticate"


class AuthenticationFailed(ApiError):
    """The credentials were refused; a person has to fix them."""

    action = "fix-credentials"


class RequestRejected(ApiError):
    """The API refused the request as such; re-sending it unchanged cannot help."""

    action = "fatal"
