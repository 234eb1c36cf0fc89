"""The budgets every worker shares: Marketo's rate, concurrency and daily quota; Salesforce's daily limit."""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

SYNC = "sync"
WRITEBACK = "writeback"


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
    # Admitted calls reach Marketo a little after we count them; widening our window by
    # this fraction keeps Marketo's own sliding window from ever seeing one call too many.
    window_margin: float = 0.025


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
    def snapshot(self) -> BudgetSnapshot:
        """The current state of every budget."""
