"""Per-process (and per-thread) services the tasks use: settings, mapping, API clients, limiter."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from clients.limiter import SYNC, Limiter
from clients.shared import limiter_for, token_cache_for
from pipeline.mapping import MappingConfig
from worker.settings import Settings, get_settings

if TYPE_CHECKING:
    from clients.marketo import MarketoClient
    from clients.salesforce import SalesforceClient

_local = threading.local()
_lock = threading.Lock()
_mapping: MappingConfig | None = None


def settings() -> Settings:
    return get_settings()


def database_url() -> str:
    return settings().DATABASE_URL


def mapping() -> MappingConfig:
    global _mapping
    with _lock:
        if _mapping is None:
            current = settings()
            _mapping = MappingConfig.load(current.FIELD_MAPPING_FILE, current.QUEUE_OWNER_SALES_PERSON_ID)
        return _mapping


def limiter() -> Limiter:
    return limiter_for(settings())


def salesforce(purpose: str = SYNC) -> SalesforceClient:
    """One client per thread and purpose: simple-salesforce sessions are not thread-safe."""
    from clients.salesforce import SalesforceClient

    cache = _thread_cache()
    key = f"salesforce:{purpose}"
    if key not in cache:
        cache[key] = SalesforceClient.from_settings(settings(), limiter(), purpose=purpose)
    return cache[key]  # type: ignore[return-value]


def marketo(purpose: str = SYNC) -> MarketoClient:
    from clients.marketo import MarketoClient

    cache = _thread_cache()
    key = f"marketo:{purpose}"
    if key not in cache:
        cache[key] = MarketoClient.from_settings(settings(), limiter(), token_cache_for(settings()), purpose=purpose)
    return cache[key]  # type: ignore[return-value]


def _thread_cache() -> dict[str, object]:
    cache = getattr(_local, "clients", None)
    if cache is None:
        cache = _local.clients = {}
    return cache  # type: ignore[no-any-return]


def reset() -> None:
    """Forget every cached service (after a fork, or when tests change the settings)."""
    global _mapping
    with _lock:
        _mapping = None
    _local.__dict__.clear()
    get_settings.cache_clear()
