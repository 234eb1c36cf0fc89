"""The budgets every worker shares: Marketo's rate, concurrency and daily quota; Salesforce's daily limit."""

from __future__ import annotations

import abc
import contextlib
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from clients.errors import BudgetExhausted, Throttled

SYNC = "sync"
WRITEBACK = "writeback"
CHICAGO = ZoneInfo("America/Chicago")
MINUTES_PER_DAY = 24 * 60
# A call in flight usually ends within a second or two; a short retry keeps slots busy.
CONCURRENCY_RETRY_SECONDS = 0.25
# When the org-wide header says the org itself is out of calls we cannot know when the
# rolling window frees some; look again in a few minutes.
ORG_RETRY_SECONDS = 300.0
MARKETO_REFUSED_RATE = "rate (Marketo answered 606: its window is shared)"


@dataclass(frozen=True)
class LimiterConfig:
    """The numbers the limiter enforces (see Settings for where each comes from)."""

    marketo_calls_per_window: int = 50
    marketo_window_seconds: float = 20.0
    marketo_max_concurrency: int = 5
    marketo_daily_quota: int = 50_000
    salesforce_daily_limit: int = 100_000
    writeback_marketo_share: float = 0.2
    writeback_salesforce_share: float = 0.25
    # A call in flight longer than this is presumed dead (its worker crashed) and its slot
    # is freed; longer than Marketo's slowest server-side timeout (90 s) plus ours.
    marketo_lease_seconds: float = 150.0
    # Admitted calls reach Marketo a little after we count them (the network, a worker
    # descheduled on a busy host); widening our window by this many seconds keeps Marketo's
    # own sliding window from seeing one call too many. Seconds, not a fraction of the
    # window: a time-scaled simulator shortens the window, not these delays.
    window_margin_seconds: float = 0.5

    @property
    def counted_window(self) -> float:
        """How long the limiter counts an admitted Marketo call."""
        return self.marketo_window_seconds + self.window_margin_seconds


@dataclass(frozen=True)
class MarketoPermit:
    """One admitted Marketo call; release it when the call is over."""

    lease_id: str
    purpose: str


@dataclass(frozen=True)
class BudgetSnapshot:
    """What `msi-sync status` shows: used, limit and reset for each budget."""

    marketo_calls_in_window: int
    marketo_in_flight: int
    marketo_used_today: int
    marketo_daily_quota: int
    marketo_resets_at: float
    salesforce_used_24h: int
    salesforce_daily_limit: int
    salesforce_org_used: int | None
    salesforce_org_max: int | None
    writeback_marketo_used_today: int
    writeback_salesforce_used_24h: int


class Limiter(abc.ABC):
    """Shared budgets. Never sleeps: a refusal raises Throttled or BudgetExhausted with retry_after."""

    def __init__(self, config: LimiterConfig) -> None:
        self.config = config

    @abc.abstractmethod
    def acquire_marketo(self, purpose: str = SYNC) -> MarketoPermit:
        """Admit one Marketo call (rate window, in-flight slot, daily quota) or raise."""

    @abc.abstractmethod
    def release_marketo(self, permit: MarketoPermit) -> None:
        """Free the in-flight slot of a finished call (the rate window keeps counting it)."""

    @contextlib.contextmanager
    def marketo_call(self, purpose: str = SYNC) -> Iterator[MarketoPermit]:
        permit = self.acquire_marketo(purpose)
        try:
            yield permit
        finally:
            self.release_marketo(permit)

    @abc.abstractmethod
    def acquire_salesforce(self, purpose: str = SYNC, calls: int = 1) -> None:
        """Count `calls` Salesforce API calls against the rolling 24 h limit, or raise."""

    @abc.abstractmethod
    def observe_salesforce_usage(self, used: int, maximum: int) -> None:
        """Record the org-wide usage from a Sforce-Limit-Info header."""

    @abc.abstractmethod
    def observe_marketo_quota(self, used_today: int) -> None:
        """Raise today's Marketo count to what Marketo reports (stats/usage, or a 607)."""

    @abc.abstractmethod
    def observe_marketo_rate_refusal(self) -> None:
        """Marketo answered 606 to a call this limiter admitted: admit none for a whole window.

        Someone else uses the instance's window too (another integration, a second deployment),
        and Marketo counts refused calls in its window: calling on at our own pace would keep
        it full and every call refused. A whole window of silence empties it of our calls.
        """

    @abc.abstractmethod
    def snapshot(self) -> BudgetSnapshot:
        """The current state of every budget."""


def seconds_until_marketo_reset(now: float) -> float:
    """Marketo's daily quota resets at midnight US Central time (America/Chicago)."""
    local = datetime.fromtimestamp(now, CHICAGO)
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), CHICAGO)
    return max(1.0, midnight.timestamp() - now)


def marketo_day(now: float) -> str:
    """The Marketo quota day (America/Chicago calendar date) that `now` falls in."""
    return datetime.fromtimestamp(now, CHICAGO).date().isoformat()


def writeback_cap(share: float, total: int) -> int:
    """The write-back's part of a budget: at least one, never more than the whole."""
    return max(1, min(total, math.floor(share * total)))


class LocalLimiter(Limiter):
    """The limiter for one process (embedded mode): the same rules as RedisLimiter, in memory."""

    def __init__(self, config: LimiterConfig, clock: Callable[[], float] = time.time) -> None:
        super().__init__(config)
        self._clock = clock
        self._lock = threading.Lock()
        self._calls: deque[tuple[float, str]] = deque()
        self._leases: dict[str, tuple[float, str]] = {}
        self._marketo_day = ""
        self._marketo_used = {SYNC: 0, WRITEBACK: 0}
        self._marketo_floor = 0
        self._marketo_paused_until = 0.0
        self._sf_buckets: dict[int, dict[str, int]] = {}
        self._sf_org: tuple[int, int] | None = None
        self._sf_org_seen = 0.0

    # --- Marketo ----------------------------------------------------------------------
    def acquire_marketo(self, purpose: str = SYNC) -> MarketoPermit:
        config = self.config
        with self._lock:
            now = self._clock()
            window = config.counted_window
            self._prune_marketo(now, window)
            used_total = max(self._marketo_floor, sum(self._marketo_used.values()))
            if used_total >= config.marketo_daily_quota or (
                purpose == WRITEBACK
                and self._marketo_used[WRITEBACK]
                >= writeback_cap(config.writeback_marketo_share, config.marketo_daily_quota)
            ):
                raise marketo_quota_error(now, purpose)
            if now < self._marketo_paused_until:
                raise throttled_error(MARKETO_REFUSED_RATE, self._marketo_paused_until - now)
            self._check_rate(now, window, purpose)
            self._check_concurrency(purpose)
            lease_id = uuid.uuid4().hex
            self._calls.append((now, purpose))
            self._leases[lease_id] = (now + config.marketo_lease_seconds, purpose)
            self._marketo_used[_bucket(purpose)] += 1
            return MarketoPermit(lease_id=lease_id, purpose=purpose)

    def _prune_marketo(self, now: float, window: float) -> None:
        while self._calls and self._calls[0][0] <= now - window:
            self._calls.popleft()
        for lease_id, (expires, _) in list(self._leases.items()):
            if expires <= now:
                del self._leases[lease_id]
        day = marketo_day(now)
        if day != self._marketo_day:
            self._marketo_day = day
            self._marketo_used = {SYNC: 0, WRITEBACK: 0}
            self._marketo_floor = 0

    def _check_rate(self, now: float, window: float, purpose: str) -> None:
        config = self.config
        if len(self._calls) >= config.marketo_calls_per_window:
            raise throttled_error("rate", self._calls[0][0] + window - now)
        if purpose == WRITEBACK:
            mine = [at for at, who in self._calls if who == WRITEBACK]
            cap = writeback_cap(config.writeback_marketo_share, config.marketo_calls_per_window)
            if len(mine) >= cap:
                raise throttled_error("write-back rate share", mine[0] + window - now)

    def _check_concurrency(self, purpose: str) -> None:
        config = self.config
        if len(self._leases) >= config.marketo_max_concurrency:
            raise throttled_error("concurrency", CONCURRENCY_RETRY_SECONDS)
        if purpose == WRITEBACK:
            mine = sum(1 for _, who in self._leases.values() if who == WRITEBACK)
            if mine >= writeback_cap(config.writeback_marketo_share, config.marketo_max_concurrency):
                raise throttled_error("write-back concurrency share", CONCURRENCY_RETRY_SECONDS)

    def release_marketo(self, permit: MarketoPermit) -> None:
        with self._lock:
            self._leases.pop(permit.lease_id, None)

    def observe_marketo_quota(self, used_today: int) -> None:
        with self._lock:
            self._prune_marketo(self._clock(), self.config.marketo_window_seconds)
            self._marketo_floor = max(self._marketo_floor, used_today)

    def observe_marketo_rate_refusal(self) -> None:
        config = self.config
        with self._lock:
            pause = config.counted_window
            self._marketo_paused_until = max(self._marketo_paused_until, self._clock() + pause)

    # --- Salesforce -------------------------------------------------------------------
    def acquire_salesforce(self, purpose: str = SYNC, calls: int = 1) -> None:
        config = self.config
        with self._lock:
            now = self._clock()
            minute = int(now // 60)
            for old in [m for m in self._sf_buckets if m <= minute - MINUTES_PER_DAY]:
                del self._sf_buckets[old]
            if self._sf_org is not None and self._sf_org[0] + calls > self._sf_org[1]:
                # Full when last seen; after a while one call may go and look (see RedisLimiter).
                if now - self._sf_org_seen < ORG_RETRY_SECONDS:
                    raise salesforce_budget_error("the org's own daily API allocation", ORG_RETRY_SECONDS)
                self._sf_org_seen = now
            self._refuse_over(calls, SYNC, config.salesforce_daily_limit, now)
            if purpose == WRITEBACK:
                cap = writeback_cap(config.writeback_salesforce_share, config.salesforce_daily_limit)
                self._refuse_over(calls, WRITEBACK, cap, now)
            bucket = self._sf_buckets.setdefault(minute, {SYNC: 0, WRITEBACK: 0})
            bucket[_bucket(purpose)] += calls
            if self._sf_org is not None:
                self._sf_org = (self._sf_org[0] + calls, self._sf_org[1])

    def _refuse_over(self, calls: int, scope: str, cap: int, now: float) -> None:
        def counted(bucket: dict[str, int]) -> int:
            return bucket[WRITEBACK] if scope == WRITEBACK else sum(bucket.values())

        used = sum(counted(bucket) for bucket in self._sf_buckets.values())
        if used + calls <= cap:
            return
        excess = used + calls - cap
        for minute in sorted(self._sf_buckets):
            excess -= counted(self._sf_buckets[minute])
            if excess <= 0:
                wait = (minute + MINUTES_PER_DAY + 1) * 60 - now
                break
        else:
            wait = float(MINUTES_PER_DAY * 60)
        label = "the write-back's share of the" if scope == WRITEBACK else "the"
        raise salesforce_budget_error(f"{label} daily Salesforce API limit ({cap:,})", wait)

    def observe_salesforce_usage(self, used: int, maximum: int) -> None:
        with self._lock:
            self._sf_org = (used, maximum)
            self._sf_org_seen = self._clock()

    def snapshot(self) -> BudgetSnapshot:
        with self._lock:
            now = self._clock()
            self._prune_marketo(now, self.config.marketo_window_seconds)
            minute = int(now // 60)
            live = [b for m, b in self._sf_buckets.items() if m > minute - MINUTES_PER_DAY]
            return BudgetSnapshot(
                marketo_calls_in_window=len(self._calls),
                marketo_in_flight=len(self._leases),
                marketo_used_today=max(self._marketo_floor, sum(self._marketo_used.values())),
                marketo_daily_quota=self.config.marketo_daily_quota,
                marketo_resets_at=now + seconds_until_marketo_reset(now),
                salesforce_used_24h=sum(sum(b.values()) for b in live),
                salesforce_daily_limit=self.config.salesforce_daily_limit,
                salesforce_org_used=self._sf_org[0] if self._sf_org else None,
                salesforce_org_max=self._sf_org[1] if self._sf_org else None,
                writeback_marketo_used_today=self._marketo_used[WRITEBACK],
                writeback_salesforce_used_24h=sum(b[WRITEBACK] for b in live),
            )


def _bucket(purpose: str) -> str:
    return WRITEBACK if purpose == WRITEBACK else SYNC


def throttled_error(what: str, wait: float) -> Throttled:
    return Throttled(
        f"Marketo {what} limit reached; wait {max(wait, 0.01):.2f}s",
        system="marketo",
        code="limiter",
        retry_after=max(wait, 0.01),
    )


def marketo_quota_error(now: float, purpose: str) -> BudgetExhausted:
    scope = "the write-back's share of " if purpose == WRITEBACK else ""
    return BudgetExhausted(
        f"{scope}Marketo's daily API quota is used up; it resets at midnight US Central time",
        system="marketo",
        code="limiter",
        retry_after=seconds_until_marketo_reset(now),
    )


def salesforce_budget_error(what: str, wait: float) -> BudgetExhausted:
    return BudgetExhausted(
        f"{what} is used up for the last 24 hours; calls resume in {wait / 60:.0f} min",
        system="salesforce",
        code="limiter",
        retry_after=max(wait, 1.0),
    )
