"""Identity: client-credential access tokens, one live token per custom service, and their checks.

Facts (DEV/authentication): a new token lives 3600 s; asking again before expiry returns the
SAME token with its remaining life in ``expires_in``; tokens look like
``cdf01657-110d-4155-99a7-f986b2ff13a0:int``. Bad credentials answer HTTP 401 with an OAuth body
whose ``error`` is ``unauthorized`` or ``invalid_client`` (MRP ``authenticate``; MRP issue #2
quotes the messages "Bad client credentials" and "No client with requested id").

Decisions: a token with less than one second left is treated as expired and replaced, so a
client is never handed a token that dies in flight; ``expires_in`` counts real seconds at the
current time scale (the token life is scaled like every other duration).
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from simulators.marketo.config import SimConfig


@dataclass
class Token:
    value: str
    client_id: str
    expires_at: float


class IdentityError(Exception):
    """Identity refused: HTTP status and the OAuth body to send."""

    def __init__(self, status: int, body: dict[str, str]) -> None:
        super().__init__(body.get("error_description", ""))
        self.status = status
        self.body = body


class TokenCheck:
    """Outcome of checking a REST call's token: the user, or the response-level code."""

    def __init__(self, user: str | None, code: str | None, message: str | None) -> None:
        self.user = user
        self.code = code
        self.message = message


def scope_of(client_id: str) -> str:
    """The API-only user that owns the custom service (what `scope` and usage stats show)."""
    return f"{client_id}@api.msi-sync.invalid"


class Identity:
    """Issues and checks tokens. Thread-safe."""

    def __init__(self, config: SimConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._tokens: dict[str, Token] = {}
        self._current: dict[str, str] = {}
        self.issued = 0

    def token_for(self, client_id: str | None, client_secret: str | None, grant_type: str | None) -> dict[str, Any]:
        if grant_type != "client_credentials":
            # Decision: OAuth's own answer for a wrong grant type (Marketo's is not documented).
            raise IdentityError(400, {"error": "unsupported_grant_type", "error_description": "Unsupported grant type"})
        if client_id != self._config.client_id:
            raise IdentityError(401, {"error": "unauthorized", "error_description": "No client with requested id"})
        if client_secret != self._config.client_secret:
            raise IdentityError(401, {"error": "invalid_client", "error_description": "Bad client credentials"})
        now = time.time()
        with self._lock:
            token = self._tokens.get(self._current.get(client_id, ""))
            if token is None or token.expires_at - now < 1.0:
                token = Token(
                    value=f"{uuid.uuid4()}:sim",
                    client_id=client_id,
                    expires_at=now + self._config.scaled(self._config.token_lifetime),
                )
                self._tokens[token.value] = token
                self._current[client_id] = token.value
                self.issued += 1
            remaining = token.expires_at - now
        return {
            "access_token": token.value,
            "token_type": "bearer",
            "expires_in": max(0, int(remaining)),
            "scope": scope_of(client_id),
        }

    def check(self, bearer: str | None) -> TokenCheck:
        """600 without a token, 601 for an unknown one, 602 for an expired one."""
        if not bearer:
            return TokenCheck(None, "600", "Access token not specified")
        with self._lock:
            token = self._tokens.get(bearer)
        if token is None:
            return TokenCheck(None, "601", "Access token invalid")
        if token.expires_at <= time.time():
            return TokenCheck(None, "602", "Access token expired")
        return TokenCheck(scope_of(token.client_id), None, None)

    def expire(self, bearer: str) -> None:
        """Kill a token now (the early_token_expiry fault)."""
        with self._lock:
            token = self._tokens.get(bearer)
            if token is not None:
                token.expires_at = min(token.expires_at, time.time())

    def live_tokens(self) -> int:
        now = time.time()
        with self._lock:
            return sum(1 for token in self._tokens.values() if token.expires_at > now)
