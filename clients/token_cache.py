"""Access tokens shared by every worker process (Redis), or by the threads of one process (embedded)."""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class CachedToken:
    token: str
    expires_at: float  # time.time() seconds


class TokenCache(abc.ABC):
    """Tokens keyed by a non-secret name (e.g. "marketo:<client id hash>")."""

    @abc.abstractmethod
    def get(self, key: str) -> CachedToken | None:
        """The cached token, or None when absent or expired."""

    @abc.abstractmethod
    def put(self, key: str, token: CachedToken) -> None:
        """Store a token until its expiry."""

    @abc.abstractmethod
    def invalidate(self, key: str, token: str) -> None:
        """Drop the cached token, but only if it is still `token` (a newer one stays)."""

    @abc.abstractmethod
    @contextlib.contextmanager
    def refresh_lock(self, key: str, timeout: float = 30.0) -> Iterator[None]:
        """Held while one worker fetches a new token, so the others wait for it instead."""
