"""The shared limiter's rules, checked on both twins: Redis (real server) and the in-process one."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import redis

from clients.errors import BudgetExhausted, Throttled
from clients.limiter import WRITEBACK, Limiter, LimiterConfig, LocalLimiter
from clients.redis_limiter import RedisLimiter

MakeLimiter = Callable[[LimiterConfig], Limiter]


@pytest.fixture(params=["redis", "local"])
def make_limiter(request: pytest.FixtureRequest, redis_client: redis.Redis, key_prefix: str) -> MakeLimiter:
    if request.param == "redis":
        return lambda config: RedisLimiter(redis_client, config, prefix=key_prefix)
    return LocalLimiter


def config(**changes: object) -> LimiterConfig:
    base = {
        "marketo_calls_per_window": 5,
        "marketo_window_seconds": 0.6,
        "marketo_max_concurrency": 100,
        "window_margin_seconds": 0.0,
    }
    base.update(changes)
    return LimiterConfig(**base)  # type: ignore[arg-type]


def test_rate_window_admits_the_limit_then_says_how_long_to_wait(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(config())
    for _ in range(5):
        limiter.release_marketo(limiter.acquire_marketo())
    with pytest.raises(Throttled) as refused:
        limiter.acquire_marketo()
    assert 0 < refused.value.retry_after <= 0.6
    time.sleep(refused.value.retry_after + 0.05)
    limiter.release_marketo(limiter.acquire_marketo())


def test_margin_widens_the_window(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(config(marketo_calls_per_window=1, window_margin_seconds=0.3))
    limiter.release_marketo(limiter.acquire_marketo())
    with pytest.raises(Throttled) as refused:
        limiter.acquire_marketo()
    assert 0.6 < refused.value.retry_after <= 0.9


def test_a_606_from_marketo_stops_every_caller_for_a_whole_window(make_limiter: MakeLimiter) -> None:
    # Another integration fills the instance's window: Marketo refuses a call we admitted.
    limiter = make_limiter(config(marketo_calls_per_window=100))
    other_worker = make_limiter(config(marketo_calls_per_window=100))
    limiter.release_marketo(limiter.acquire_marketo())
    limiter.observe_marketo_rate_refusal()
    with pytest.raises(Throttled, match="606") as refused:
        limiter.acquire_marketo()
    assert 0.5 < refused.value.retry_after <= 0.6
    if isinstance(limiter, RedisLimiter):  # the pause is shared by every worker
        with pytest.raises(Throttled, match="606"):
            other_worker.acquire_marketo()
    time.sleep(refused.value.retry_after + 0.05)
    limiter.release_marketo(limiter.acquire_marketo())


def test_calls_in_flight_are_capped_until_released(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(config(marketo_calls_per_window=100, marketo_max_concurrency=3))
    permits = [limiter.acquire_marketo() for _ in range(3)]
    with pytest.raises(Throttled, match="concurrency"):
        limiter.acquire_marketo()
    limiter.release_marketo(permits[0])
    permits.append(limiter.acquire_marketo())
    assert limiter.snapshot().marketo_in_flight == 3


def test_a_crashed_callers_slot_frees_itself_after_the_lease(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(config(marketo_calls_per_window=100, marketo_max_concurrency=1, marketo_lease_seconds=0.3))
    limiter.acquire_marketo()  # never released, as if the worker died mid-call
    with pytest.raises(Throttled):
        limiter.acquire_marketo()
    time.sleep(0.35)
    limiter.acquire_marketo()


def test_daily_quota_stops_until_midnight_central(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(config(marketo_calls_per_window=100, marketo_daily_quota=4))
    for _ in range(4):
        limiter.release_marketo(limiter.acquire_marketo())
    with pytest.raises(BudgetExhausted) as refused:
        limiter.acquire_marketo()
    assert 0 < refused.value.retry_after <= 25 * 3600
    assert limiter.snapshot().marketo_used_today == 4


def test_a_quota_reported_by_marketo_is_respected(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(config(marketo_calls_per_window=100, marketo_daily_quota=10))
    limiter.observe_marketo_quota(10)
    with pytest.raises(BudgetExhausted):
        limiter.acquire_marketo()


def test_write_back_gets_only_its_share_of_marketo(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(config(marketo_calls_per_window=10, writeback_marketo_share=0.2, marketo_window_seconds=5))
    for _ in range(2):
        limiter.release_marketo(limiter.acquire_marketo(WRITEBACK))
    with pytest.raises(Throttled, match="write-back"):
        limiter.acquire_marketo(WRITEBACK)
    for _ in range(8):  # the sync keeps the rest of the window
        limiter.release_marketo(limiter.acquire_marketo())
    with pytest.raises(Throttled):
        limiter.acquire_marketo()


def test_salesforce_daily_limit_refuses_with_the_time_until_calls_expire(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(config(salesforce_daily_limit=10))
    limiter.acquire_salesforce(calls=6)
    limiter.acquire_salesforce(calls=4)
    with pytest.raises(BudgetExhausted) as refused:
        limiter.acquire_salesforce()
    assert 23 * 3600 < refused.value.retry_after <= 24 * 3600 + 120
    assert limiter.snapshot().salesforce_used_24h == 10


def test_salesforce_write_back_share(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(config(salesforce_daily_limit=100, writeback_salesforce_share=0.05))
    for _ in range(5):
        limiter.acquire_salesforce(WRITEBACK)
    with pytest.raises(BudgetExhausted, match="write-back"):
        limiter.acquire_salesforce(WRITEBACK)
    limiter.acquire_salesforce(calls=95)
    with pytest.raises(BudgetExhausted):
        limiter.acquire_salesforce()
    snapshot = limiter.snapshot()
    assert (snapshot.salesforce_used_24h, snapshot.writeback_salesforce_used_24h) == (100, 5)


def test_the_orgs_own_allocation_stops_us_even_under_our_limit(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(config(salesforce_daily_limit=1000))
    limiter.observe_salesforce_usage(used=98, maximum=100)
    limiter.acquire_salesforce(calls=2)
    with pytest.raises(BudgetExhausted, match="org"):
        limiter.acquire_salesforce()


def test_local_salesforce_buckets_expire_after_24_hours() -> None:
    now = [1_700_000_000.0]
    limiter = LocalLimiter(config(salesforce_daily_limit=3), clock=lambda: now[0])
    limiter.acquire_salesforce(calls=3)
    now[0] += 12 * 3600
    with pytest.raises(BudgetExhausted):
        limiter.acquire_salesforce()
    now[0] += 12 * 3600 + 61
    limiter.acquire_salesforce(calls=3)


def test_local_marketo_day_rolls_over_at_central_midnight() -> None:
    # 2026-11-23 23:59:30 America/Chicago is 05:59:30 UTC the next day.
    now = [1_795_499_970.0]
    limiter = LocalLimiter(config(marketo_daily_quota=1, marketo_calls_per_window=100), clock=lambda: now[0])
    limiter.release_marketo(limiter.acquire_marketo())
    with pytest.raises(BudgetExhausted) as refused:
        limiter.acquire_marketo()
    assert refused.value.retry_after == pytest.approx(30, abs=1)
    now[0] += 31
    limiter.acquire_marketo()


def test_a_full_org_is_looked_at_again_after_a_while() -> None:
    now = [1_700_000_000.0]
    limiter = LocalLimiter(config(salesforce_daily_limit=1000), clock=lambda: now[0])
    limiter.observe_salesforce_usage(used=100, maximum=100)
    with pytest.raises(BudgetExhausted):
        limiter.acquire_salesforce()
    now[0] += 301
    limiter.acquire_salesforce()  # one probe goes; its response's header decides what follows
    with pytest.raises(BudgetExhausted):
        limiter.acquire_salesforce()


def test_redis_limiter_lets_one_probe_through_a_stale_full_org(redis_client: redis.Redis, key_prefix: str) -> None:
    limiter = RedisLimiter(redis_client, config(salesforce_daily_limit=1000), prefix=key_prefix)
    limiter.observe_salesforce_usage(used=100, maximum=100)
    with pytest.raises(BudgetExhausted):
        limiter.acquire_salesforce()
    redis_client.hset(f"{key_prefix}:sf:org", "at", time.time() - 301)  # seen five minutes ago
    limiter.acquire_salesforce()
    with pytest.raises(BudgetExhausted):
        limiter.acquire_salesforce()


def test_an_unreachable_redis_means_wait_not_crash() -> None:
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    dead = redis.Redis(port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    limiter = RedisLimiter(dead, config())
    with pytest.raises(Throttled, match="unreachable"):
        limiter.acquire_marketo()
    with pytest.raises(Throttled, match="unreachable"):
        limiter.acquire_salesforce()
