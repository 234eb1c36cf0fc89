"""Marketo's response envelope, its request ids, response-level errors and opaque paging tokens.

Shape (SWAGGER ``ResponseOf*``, DEV/error-codes): ``{requestId, success, result, errors,
warnings, moreResult?, nextPageToken?}``; ``requestId`` looks like ``e42b#14272d07d78``;
error ``code`` is a quoted integer. A failed call carries ``errors`` and no ``result``, as in
Adobe's examples.
"""

from __future__ import annotations

import base64
import itertools
import random
import threading
import time
from typing import Any

_counter = itertools.count(random.randrange(0x1000, 0xFFFF))
_counter_lock = threading.Lock()


class MarketoError(Exception):
    """A response-level error: HTTP 200, ``success: false``, one ``errors`` entry."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def request_id() -> str:
    with _counter_lock:
        serial = next(_counter) & 0xFFFFF
    return f"{serial:x}#{int(time.time() * 1000):x}"


def success(result: list[Any] | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"requestId": request_id(), "success": True}
    if result is not None:
        body["result"] = result
    body["errors"] = []
    body["warnings"] = []
    body.update(extra)
    return body


def failure(code: str, message: str) -> dict[str, Any]:
    return {
        "requestId": request_id(),
        "success": False,
        "errors": [{"code": code, "message": message}],
        "warnings": [],
    }


def skipped(code: str, message: str) -> dict[str, Any]:
    return {"status": "skipped", "reasons": [{"code": code, "message": message}]}


def encode_token(kind: str, value: int | float) -> str:
    """An opaque, base32 token like Marketo's (e.g. ``GIYDAOBNGEYS2MBW...``)."""
    return base64.b32encode(f"{kind}:{value}".encode()).decode()


def decode_token(token: str, kind: str) -> float:
    """The value inside a token made by encode_token; MarketoError 1003 when it is not one."""
    try:
        padded = token + "=" * (-len(token) % 8)
        got_kind, _, value = base64.b32decode(padded).decode().partition(":")
        if got_kind != kind:
            raise ValueError(kind)
        return float(value)
    except (ValueError, UnicodeDecodeError) as error:
        raise MarketoError("1003", "Invalid nextPageToken") from error
