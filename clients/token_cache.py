"""Access tokens shared by every worker process (Redis), or by the threads of one process (embedded)."""

from __future__ import annotations

import abc
import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import redis


class RefreshBusy(Exception):
    """Another worker has been fetching the token for longer than a caller is willing to wait."""


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
    def refresh_lock(self, key: str, *, hold: float, wait: float) -> Iterator[None]:
        """Held while one worker fetches a new token, so the others wait for it instead.

        `hold` bounds how long a holder can keep others out (its fetch's own timeout: a holder
        killed mid-fetch frees the lock by then); `wait` bounds how long a caller waits for it
        before RefreshBusy, so a worker slot is never parked behind a dead holder.
        """


class LocalTokenCache(TokenCache):
    """Tokens shared by the threads of one process (embedded mode)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._tokens: dict[str, CachedToken] = {}
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def get(self, key: str) -> CachedToken | None:
        with self._guard:
            token = self._tokens.get(key)
        if token is None or token.expires_at <= self._clock():
            return None
        return token

    def put(self, key: str, token: CachedToken) -> None:
        with self._guard:
            self._tokens[key] = token

    def invalidate(self, key: str, token: str) -> None:
        with self._guard:
            current = self._tokens.get(key)
            if current is not None and current.token == token:
                del self._tokens[key]

    @contextlib.contextmanager
    def refresh_lock(self, key: str, *, hold: float, wait: float) -> Iterator[None]:
        # A thread cannot die holding it (the with-block releases it), so `hold` needs no timer.
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        if not lock.acquire(timeout=wait):
            raise RefreshBusy(f"waited {wait:g}s for another thread to refresh token {key}")
        try:
            yield
        finally:
            lock.release()


# Deletes the key only if it still holds the token being invalidated.
_COMPARE_AND_DELETE = """
local raw = redis.call('GET', KEYS[1])
if raw and cjson.decode(raw)['token'] == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisTokenCache(TokenCache):
    """Tokens shared through Redis by every worker process, so Marketo sees one token per service."""

    def __init__(self, client: redis.Redis, prefix: str = "msi:token") -> None:
        self._redis = client
        self._prefix = prefix
        self._compare_and_delete = client.register_script(_COMPARE_AND_DELETE)

    def _key(self, key: str) -> str:
        return f"{self._prefix}:{key}"

    # The cache only saves Identity calls (which cost no quota): when Redis is unreachable the
    # clients fetch their own token rather than stop, so a Redis outage does not stop the sync.

    def get(self, key: str) -> CachedToken | None:
        try:
            raw = self._redis.get(self._key(key))
        except redis.RedisError:
            return None
        if raw is None:
            return None
        data = json.loads(raw)
        token = CachedToken(token=data["token"], expires_at=float(data["expires_at"]))
        return token if token.expires_at > time.time() else None

    def put(self, key: str, token: CachedToken) -> None:
        ttl_ms = int((token.expires_at - time.time()) * 1000)
        if ttl_ms <= 0:
            return
        payload = json.dumps({"token": token.token, "expires_at": token.expires_at})
        with contextlib.suppress(redis.RedisError):
            self._redis.set(self._key(key), payload, px=ttl_ms)

    def invalidate(self, key: str, token: str) -> None:
        with contextlib.suppress(redis.RedisError):
            self._compare_and_delete(keys=[self._key(key)], args=[token])

    @contextlib.contextmanager
    def refresh_lock(self, key: str, *, hold: float, wait: float) -> Iterator[None]:
        # The lock expires by itself so a worker killed while refreshing cannot block the rest.
        lock = self._redis.lock(self._key(key) + ":lock", timeout=hold, blocking_timeout=wait)
        try:
            acquired = lock.acquire()
        except redis.RedisError:
            yield  # no Redis, no lock: at worst two workers ask Identity for the same token
            return
        if not acquired:
            raise RefreshBusy(f"waited {wait:g}s for another worker to refresh token {key}")
        try:
            yield
        finally:
            with contextlib.suppress(redis.exceptions.LockError):
                lock.release()
