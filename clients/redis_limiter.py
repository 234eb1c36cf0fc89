"""The shared limiter on Redis: atomic Lua scripts on Redis's own clock, so every worker on every host agrees."""

from __future__ import annotations

import contextlib
import time
import uuid
from typing import Any

import redis

from clients.errors import Throttled
from clients.limiter import (
    CONCURRENCY_RETRY_SECONDS,
    MARKETO_REFUSED_RATE,
    MINUTES_PER_DAY,
    ORG_RETRY_SECONDS,
    SYNC,
    WRITEBACK,
    BudgetSnapshot,
    Limiter,
    LimiterConfig,
    MarketoPermit,
    marketo_day,
    marketo_quota_error,
    salesforce_budget_error,
    seconds_until_marketo_reset,
    throttled_error,
    writeback_cap,
)

PREFIX = "msi:limiter"

# KEYS: 1 calls zset, 2 write-back calls zset, 3 leases zset (score = expiry),
#       4 write-back leases zset, 5 quota hash of the Marketo day, 6 pause (admit nothing until)
# ARGV: window, limit, purpose, wb_limit, max_conc, wb_conc, lease_ttl, lease_id,
#       quota, wb_quota, day_ttl
_ACQUIRE_MARKETO = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local window = tonumber(ARGV[1])
local purpose = ARGV[3]
local wb = purpose == 'writeback'
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
local used = tonumber(redis.call('HGET', KEYS[5], 'total') or '0')
local floor = tonumber(redis.call('HGET', KEYS[5], 'floor') or '0')
local wb_used = tonumber(redis.call('HGET', KEYS[5], 'writeback') or '0')
if math.max(used, floor) >= tonumber(ARGV[9]) then return {'quota', '0'} end
if wb and wb_used >= tonumber(ARGV[10]) then return {'quota', '0'} end
local paused = tonumber(redis.call('GET', KEYS[6]) or '0')
if paused > now then return {'paused', tostring(paused - now)} end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {'rate', tostring(tonumber(oldest[2]) + window - now)}
end
if wb and redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  return {'write-back rate share', tostring(tonumber(oldest[2]) + window - now)}
end
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[5]) then return {'concurrency', '0'} end
if wb and redis.call('ZCARD', KEYS[4]) >= tonumber(ARGV[6]) then
  return {'write-back concurrency share', '0'}
end
local lease_id = ARGV[8]
redis.call('ZADD', KEYS[1], now, lease_id)
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[7]), lease_id)
redis.call('HINCRBY', KEYS[5], 'total', 1)
if wb then
  redis.call('ZADD', KEYS[2], now, lease_id)
  redis.call('ZADD', KEYS[4], now + tonumber(ARGV[7]), lease_id)
  redis.call('HINCRBY', KEYS[5], 'writeback', 1)
end
local keep = math.ceil(window * 2)
redis.call('EXPIRE', KEYS[1], keep)
redis.call('EXPIRE', KEYS[2], keep)
redis.call('EXPIRE', KEYS[3], math.ceil(tonumber(ARGV[7]) * 2))
redis.call('EXPIRE', KEYS[4], math.ceil(tonumber(ARGV[7]) * 2))
redis.call('EXPIRE', KEYS[5], tonumber(ARGV[11]))
return {'ok', tostring(now)}
"""

# KEYS: 1 buckets zset (member = score = minute), 2 counts hash, 3 write-back counts hash,
#       4 org hash (used, max)
# ARGV: calls, purpose, limit, wb_limit, minutes_per_day, ttl, org_probe_seconds
_ACQUIRE_SALESFORCE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local minute = math.floor(now / 60)
local day = tonumber(ARGV[5])
local calls = tonumber(ARGV[1])
local wb = ARGV[2] == 'writeback'
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', minute - day)
for _, m in ipairs(old) do
  redis.call('HDEL', KEYS[2], m)
  redis.call('HDEL', KEYS[3], m)
  redis.call('ZREM', KEYS[1], m)
end
local org_used = redis.call('HGET', KEYS[4], 'used')
local org_max = redis.call('HGET', KEYS[4], 'max')
if org_used and org_max and tonumber(org_used) + calls > tonumber(org_max) then
  -- The org was full when last seen. Salesforce frees calls as its 24 h window rolls, and
  -- only a response tells us: after a while, let one call through to look.
  local seen = tonumber(redis.call('HGET', KEYS[4], 'at') or '0')
  if now - seen < tonumber(ARGV[7]) then return {'org', '0'} end
  redis.call('HSET', KEYS[4], 'at', now)
end
local function refuse(hash, cap, label)
  local minutes = redis.call('ZRANGE', KEYS[1], 0, -1)
  local used = 0
  local counts = {}
  for i, m in ipairs(minutes) do
    counts[i] = tonumber(redis.call('HGET', hash, m) or '0')
    used = used + counts[i]
  end
  if used + calls <= cap then return nil end
  local excess = used + calls - cap
  for i, m in ipairs(minutes) do
    excess = excess - counts[i]
    if excess <= 0 then
      return {label, tostring((tonumber(m) + day + 1) * 60 - now)}
    end
  end
  return {label, tostring(day * 60)}
end
local answer = refuse(KEYS[2], tonumber(ARGV[3]), 'limit')
if answer then return answer end
if wb then
  answer = refuse(KEYS[3], tonumber(ARGV[4]), 'write-back share')
  if answer then return answer end
end
redis.call('ZADD', KEYS[1], minute, minute)
redis.call('HINCRBY', KEYS[2], minute, calls)
if wb then redis.call('HINCRBY', KEYS[3], minute, calls) end
if org_used then redis.call('HINCRBY', KEYS[4], 'used', calls) end
for i = 1, 4 do redis.call('EXPIRE', KEYS[i], tonumber(ARGV[6])) end
return {'ok', '0'}
"""

# KEYS: 1 pause; ARGV: seconds. Admit no Marketo call for `seconds` from now (the later end wins).
_PAUSE_MARKETO = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local ends = now + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if ends > current then
  redis.call('SET', KEYS[1], tostring(ends), 'PX', math.ceil(tonumber(ARGV[1]) * 1000) + 1000)
end
return 1
"""

# KEYS: 1 quota hash; ARGV: used_today, ttl
_RAISE_FLOOR = """
local current = tonumber(redis.call('HGET', KEYS[1], 'floor') or '0')
if tonumber(ARGV[1]) > current then redis.call('HSET', KEYS[1], 'floor', ARGV[1]) end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
"""

_DAY_TTL_SECONDS = 2 * 24 * 3600
UNAVAILABLE_RETRY_SECONDS = 5.0


def _unavailable(error: redis.RedisError) -> Throttled:
    # Without the shared counters no call can be proven safe: wait, as for any throttle.
    return Throttled(
        f"the shared limiter (Redis) is unreachable: {type(error).__name__}",
        system="limiter",
        code="limiter-unavailable",
        retry_after=UNAVAILABLE_RETRY_SECONDS,
    )


class RedisLimiter(Limiter):
    """Limiter shared through Redis by every worker process on every host.

    When Redis cannot be reached, acquiring raises Throttled (wait and retry) rather than a
    Redis error: the callers' retry machinery then waits for it like for any other limit.
    """

    def __init__(self, client: redis.Redis, config: LimiterConfig, prefix: str = PREFIX) -> None:
        super().__init__(config)
        self._redis = client
        self._prefix = prefix
        self._acquire_marketo = client.register_script(_ACQUIRE_MARKETO)
        self._acquire_salesforce = client.register_script(_ACQUIRE_SALESFORCE)
        self._raise_floor = client.register_script(_RAISE_FLOOR)
        self._pause_marketo = client.register_script(_PAUSE_MARKETO)

    def _key(self, *parts: str) -> str:
        return ":".join((self._prefix, *parts))

    def _marketo_keys(self, now: float) -> list[str]:
        return [
            self._key("mkto", "calls"),
            self._key("mkto", "calls", WRITEBACK),
            self._key("mkto", "leases"),
            self._key("mkto", "leases", WRITEBACK),
            self._key("mkto", "day", marketo_day(now)),
            self._key("mkto", "pause"),
        ]

    def _salesforce_keys(self) -> list[str]:
        return [
            self._key("sf", "buckets"),
            self._key("sf", "counts"),
            self._key("sf", "counts", WRITEBACK),
            self._key("sf", "org"),
        ]

    # --- Marketo ----------------------------------------------------------------------
    def acquire_marketo(self, purpose: str = SYNC) -> MarketoPermit:
        config = self.config
        now = time.time()
        lease_id = uuid.uuid4().hex
        try:
            verdict, value = self._acquire_marketo(
                keys=self._marketo_keys(now),
                args=[
                    config.counted_window,
                    config.marketo_calls_per_window,
                    purpose,
                    writeback_cap(config.writeback_marketo_share, config.marketo_calls_per_window),
                    config.marketo_max_concurrency,
                    writeback_cap(config.writeback_marketo_share, config.marketo_max_concurrency),
                    config.marketo_lease_seconds,
                    lease_id,
                    config.marketo_daily_quota,
                    writeback_cap(config.writeback_marketo_share, config.marketo_daily_quota),
                    _DAY_TTL_SECONDS,
                ],
            )
        except redis.RedisError as error:
            raise _unavailable(error) from error
        verdict = _text(verdict)
        if verdict == "ok":
            return MarketoPermit(lease_id=lease_id, purpose=purpose)
        if verdict == "quota":
            raise marketo_quota_error(now, purpose)
        wait = float(_text(value))
        if verdict == "paused":
            raise throttled_error(MARKETO_REFUSED_RATE, wait)
        if "concurrency" in verdict:
            wait = CONCURRENCY_RETRY_SECONDS
        raise throttled_error(verdict, wait)

    def release_marketo(self, permit: MarketoPermit) -> None:
        pipe = self._redis.pipeline()
        pipe.zrem(self._key("mkto", "leases"), permit.lease_id)
        pipe.zrem(self._key("mkto", "leases", WRITEBACK), permit.lease_id)
        # An unreleased lease expires by itself; losing the release must not fail the call.
        with contextlib.suppress(redis.RedisError):
            pipe.execute()

    def observe_marketo_quota(self, used_today: int) -> None:
        key = self._key("mkto", "day", marketo_day(time.time()))
        with contextlib.suppress(redis.RedisError):
            self._raise_floor(keys=[key], args=[used_today, _DAY_TTL_SECONDS])

    def observe_marketo_rate_refusal(self) -> None:
        config = self.config
        pause = config.counted_window
        with contextlib.suppress(redis.RedisError):
            self._pause_marketo(keys=[self._key("mkto", "pause")], args=[pause])

    # --- Salesforce -------------------------------------------------------------------
    def acquire_salesforce(self, purpose: str = SYNC, calls: int = 1) -> None:
        config = self.config
        try:
            verdict, value = self._acquire_salesforce(
                keys=self._salesforce_keys(),
                args=[
                    calls,
                    purpose,
                    config.salesforce_daily_limit,
                    writeback_cap(config.writeback_salesforce_share, config.salesforce_daily_limit),
                    MINUTES_PER_DAY,
                    _DAY_TTL_SECONDS,
                    ORG_RETRY_SECONDS,
                ],
            )
        except redis.RedisError as error:
            raise _unavailable(error) from error
        verdict = _text(verdict)
        if verdict == "ok":
            return
        if verdict == "org":
            raise salesforce_budget_error("the org's own daily API allocation", ORG_RETRY_SECONDS)
        if verdict == "write-back share":
            cap = writeback_cap(config.writeback_salesforce_share, config.salesforce_daily_limit)
            what = f"the write-back's share of the daily Salesforce API limit ({cap:,})"
        else:
            what = f"the daily Salesforce API limit ({config.salesforce_daily_limit:,})"
        raise salesforce_budget_error(what, float(_text(value)))

    def observe_salesforce_usage(self, used: int, maximum: int) -> None:
        key = self._key("sf", "org")
        with contextlib.suppress(redis.RedisError):
            self._redis.hset(key, mapping={"used": used, "max": maximum, "at": time.time()})
            self._redis.expire(key, _DAY_TTL_SECONDS)

    def snapshot(self) -> BudgetSnapshot:
        now = time.time()
        window = self.config.counted_window
        calls, _, leases, _, day, _ = self._marketo_keys(now)
        buckets, counts, wb_counts, org = self._salesforce_keys()
        minute = int(now // 60)
        pipe = self._redis.pipeline()
        pipe.zcount(calls, now - window, "+inf")
        pipe.zcount(leases, now, "+inf")
        pipe.hgetall(day)
        pipe.zrangebyscore(buckets, minute - MINUTES_PER_DAY + 1, "+inf")
        pipe.hgetall(counts)
        pipe.hgetall(wb_counts)
        pipe.hgetall(org)
        in_window, in_flight, day_hash, live, count_hash, wb_hash, org_hash = pipe.execute()
        day_hash = _decode(day_hash)
        count_hash, wb_hash, org_hash = _decode(count_hash), _decode(wb_hash), _decode(org_hash)
        live_minutes = [_text(m) for m in live]
        used_today = max(int(day_hash.get("total", 0)), int(day_hash.get("floor", 0)))
        return BudgetSnapshot(
            marketo_calls_in_window=int(in_window),
            marketo_in_flight=int(in_flight),
            marketo_used_today=used_today,
            marketo_daily_quota=self.config.marketo_daily_quota,
            marketo_resets_at=now + seconds_until_marketo_reset(now),
            salesforce_used_24h=sum(int(count_hash.get(m, 0)) for m in live_minutes),
            salesforce_daily_limit=self.config.salesforce_daily_limit,
            salesforce_org_used=int(org_hash["used"]) if "used" in org_hash else None,
            salesforce_org_max=int(org_hash["max"]) if "max" in org_hash else None,
            writeback_marketo_used_today=int(day_hash.get("writeback", 0)),
            writeback_salesforce_used_24h=sum(int(wb_hash.get(m, 0)) for m in live_minutes),
        )

    def reset(self) -> None:
        """Forget every counter (tests and `msi-sync` admin use only)."""
        for key in self._redis.scan_iter(match=self._key("*")):
            self._redis.delete(key)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _decode(mapping: dict[Any, Any]) -> dict[str, str]:
    return {_text(key): _text(value) for key, value in mapping.items()}
