"""Budgets as people read them: from the shared limiter on real Redis, and from the vendors' own counters."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import redis

from clients.limiter import LimiterConfig, LocalLimiter, seconds_until_marketo_reset
from clients.redis_limiter import RedisLimiter
from ops.budgets import Budget, budgets
from tests.ops.deployment import Orgs, clients_for, settings_for


def _by_name(found: list[Budget]) -> dict[tuple[str, str], Budget]:
    return {(b.name, b.source): b for b in found}


def test_used_left_and_reset_come_from_the_shared_limiter(redis_client: redis.Redis, key_prefix: str) -> None:
    limiter = RedisLimiter(redis_client, LimiterConfig(marketo_daily_quota=500), prefix=key_prefix)
    for _ in range(3):
        limiter.release_marketo(limiter.acquire_marketo())
    limiter.acquire_salesforce(calls=5)

    found, notes = budgets(limiter)

    table = _by_name(found)
    marketo = table[("Marketo daily quota", "counted here")]
    assert (marketo.used, marketo.left, marketo.limit) == (3, 497, 500)
    expected_reset = time.time() + seconds_until_marketo_reset(time.time())
    assert marketo.resets_at is not None and abs(marketo.resets_at.timestamp() - expected_reset) < 5
    assert marketo.resets_at.astimezone(UTC) > datetime.now(UTC)
    salesforce = table[("Salesforce daily API", "counted here")]
    assert (salesforce.used, salesforce.left) == (5, 100_000 - 5) and salesforce.resets_at is None
    assert "rolling 24 h" in salesforce.window and notes == []


def test_asked_live_the_vendors_numbers_are_shown(sqlite_db: str, orgs: Orgs) -> None:
    settings = settings_for(orgs.production, orgs.marketo, sqlite_db, "production")
    salesforce, marketo = clients_for(settings)
    limiter = LocalLimiter(LimiterConfig())
    salesforce.identity()

    found, notes = budgets(limiter, salesforce=salesforce, marketo=marketo)

    table = _by_name(found)
    reported = table[("Marketo daily quota", "Marketo stats/usage")]
    counted_by_marketo = sum(orgs.marketo.limits.usage()[1].values())
    assert reported.used >= 1 and counted_by_marketo - 1 <= reported.used <= counted_by_marketo
    org = table[("Salesforce daily API (org)", "Salesforce /limits")]
    assert org.limit == orgs.production.api_limit and org.used >= 1
    assert ("Salesforce daily API (org)", "last call's header") not in table  # replaced by the fresher answer
    assert notes == []


def test_a_spent_budget_shows_as_exhausted_with_nothing_left() -> None:
    limiter = LocalLimiter(LimiterConfig(marketo_daily_quota=2))
    for _ in range(2):
        limiter.release_marketo(limiter.acquire_marketo())
    marketo = _by_name(budgets(limiter)[0])[("Marketo daily quota", "counted here")]
    assert marketo.exhausted and marketo.left == 0
