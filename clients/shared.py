"""Builds the limiter and token cache a process should use: Redis when configured, in-process when embedded."""

from __future__ import annotations

import functools
import threading

import redis

from clients.limiter import Limiter, LimiterConfig, LocalLimiter
from clients.redis_limiter import RedisLimiter
from clients.token_cache import LocalTokenCache, RedisTokenCache, TokenCache
from worker.settings import Settings

_local_lock = threading.Lock()
_local_limiters: dict[LimiterConfig, LocalLimiter] = {}
_local_token_cache = LocalTokenCache()


def limiter_config(settings: Settings) -> LimiterConfig:
    return LimiterConfig(
        marketo_calls_per_window=settings.MARKETO_CALLS_PER_20S,
        marketo_window_seconds=settings.MARKETO_RATE_WINDOW_SECONDS,
        marketo_max_concurrency=settings.MARKETO_MAX_CONCURRENCY,
        marketo_daily_quota=settings.MARKETO_DAILY_QUOTA,
        salesforce_daily_limit=settings.SALESFORCE_DAILY_API_LIMIT,
        writeback_marketo_share=settings.WRITEBACK_MARKETO_SHARE,
        writeback_salesforce_share=settings.WRITEBACK_SALESFORCE_SHARE,
        # A call cannot last much longer than our client timeout: past that its slot is free
        # again, even if the worker that held it died mid-call.
        marketo_lease_seconds=settings.MARKETO_TIMEOUT_SECONDS * 1.5 + 5,
    )


@functools.cache
def redis_client(url: str) -> redis.Redis:
    """One connection pool per Redis URL per process."""
    return redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)


def limiter_for(settings: Settings) -> Limiter:
    """The limiter every caller in this deployment shares."""
    config = limiter_config(settings)
    if settings.REDIS_URL:
        return RedisLimiter(redis_client(settings.REDIS_URL), config)
    with _local_lock:
        return _local_limiters.setdefault(config, LocalLimiter(config))


def token_cache_for(settings: Settings) -> TokenCache:
    if settings.REDIS_URL:
        return RedisTokenCache(redis_client(settings.REDIS_URL))
    return _local_token_cache
