"""The OAuth token endpoint (client credentials and JWT bearer) and the sessions it hands out."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

from simulators.salesforce.org import Org

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass
class TokenError(Exception):
    """The token endpoint's refusal: HTTP 400 with {"error", "error_description"}."""

    error: str
    description: str
    status: int = 400

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class Sessions:
    """Access tokens and the user each one acts as; a token dies at expiry or when revoked."""

    def __init__(self, org: Org, lifetime: float, clock: Callable[[], float] = time.time) -> None:
        self._org = org
        self.lifetime = lifetime
        self._clock = clock
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def issue(self, user_id: str) -> str:
        # Real tokens start with the org's 15-character id and an exclamation mark.
        token = f"{self._org.org_id[:15]}!{secrets.token_urlsafe(72)}"
        with self._lock:
            self._tokens[token] = (user_id, self._clock() + self.lifetime)
        return token

    def user_for(self, token: str | None) -> str | None:
        if not token:
            return None
        with self._lock:
            found = self._tokens.get(token)
            if found is None:
                return None
            if found[1] <= self._clock():
                del self._tokens[token]
                return None
            return found[0]

    def revoke(self, token: str) -> None:
        with self._lock:
            self._tokens.pop(token, None)

    def revoke_all(self) -> int:
        with self._lock:
            count = len(self._tokens)
            self._tokens.clear()
            return count


class TokenEndpoint:
    """POST /services/oauth2/token, answering as Salesforce does (shapes and error codes)."""

    def __init__(
        self,
        org: Org,
        sessions: Sessions,
        *,
        client_id: str,
        client_secret: str,
        jwt_public_key_pem: str | bytes | None = None,
    ) -> None:
        self._org = org
        self._sessions = sessions
        self._client_id = client_id
        self._client_secret = client_secret
        self._jwt_key = jwt_public_key_pem
        self.base_url = ""

    def grant(self, form: dict[str, str], authorization: str | None) -> dict[str, Any]:
        grant_type = form.get("grant_type", "")
        if grant_type == "client_credentials":
            return self._client_credentials(form, authorization)
        if grant_type == JWT_GRANT:
            return self._jwt_bearer(form)
        raise TokenError("unsupported_grant_type", "grant type not supported")

    def _client_credentials(self, form: dict[str, str], authorization: str | None) -> dict[str, Any]:
        client_id, secret = _basic(authorization) if authorization else (None, None)
        client_id = client_id or form.get("client_id")
        secret = secret or form.get("client_secret")
        if not client_id or not hmac.compare_digest(client_id, self._client_id):
            raise TokenError("invalid_client_id", "client identifier invalid")
        if not secret or not hmac.compare_digest(secret, self._client_secret):
            raise TokenError("invalid_client", "invalid client credentials")
        # The connected app's "run as" user: the integration user.
        return self._response(self._org.integration_user_id, with_signature=True)

    def _jwt_bearer(self, form: dict[str, str]) -> dict[str, Any]:
        assertion = form.get("assertion", "")
        if not assertion or self._jwt_key is None:
            raise TokenError("invalid_grant", "invalid assertion")
        try:
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise TokenError("invalid_grant", "invalid assertion") from None
        if unverified.get("iss") != self._client_id:
            raise TokenError("invalid_client_id", "client identifier invalid")
        try:
            claims = jwt.decode(
                assertion,
                self._jwt_key,
                algorithms=["RS256"],
                audience=[self.base_url, self.base_url + "/"],
                options={"require": ["exp", "iss", "sub", "aud"]},
            )
        except jwt.InvalidAudienceError:
            raise TokenError("invalid_grant", "audience is invalid") from None
        except jwt.ExpiredSignatureError:
            raise TokenError("invalid_grant", "expired authorization code") from None
        except jwt.PyJWTError:
            raise TokenError("invalid_grant", "invalid assertion") from None
        user_id = self._active_user(str(claims.get("sub", "")))
        if user_id is None:
            raise TokenError("invalid_grant", "user hasn't approved this consumer")
        return self._response(user_id, with_signature=False)

    def _active_user(self, username: str) -> str | None:
        users = self._org.tables["User"]
        with self._org.lock:
            for row in users.rows.values():
                if str(users.get(row, "Username")).lower() == username.lower() and users.get(row, "IsActive"):
                    return str(row[0])
        return None

    def _response(self, user_id: str, *, with_signature: bool) -> dict[str, Any]:
        token = self._sessions.issue(user_id)
        identity = f"{self.base_url}/id/{self._org.org_id}/{user_id}"
        body: dict[str, Any] = {
            "access_token": token,
            "scope": "api",
            "instance_url": self.base_url,
            "id": identity,
            "token_type": "Bearer",
        }
        if with_signature:
            issued_at = str(int(time.time() * 1000))
            # Salesforce signs id + issued_at with the client secret (HMAC-SHA256, base64).
            digest = hmac.new(self._client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256)
            body["issued_at"] = issued_at
            body["signature"] = base64.b64encode(digest.digest()).decode()
        return body


def _basic(header: str) -> tuple[str | None, str | None]:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    client_id, _, secret = decoded.partition(":")
    return client_id, secret
