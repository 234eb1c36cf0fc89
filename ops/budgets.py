"""The daily API budgets as people read them: used, left, limit and when each frees up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from clients.errors import ApiError
from clients.limiter import BudgetSnapshot, Limiter, writeback_cap

SALESFORCE_WINDOW = "rolling 24 h: each call frees up 24 h after it was made"
MARKETO_WINDOW = "resets at midnight America/Chicago"


class SalesforceLimits(Protocol):
    def limits(self) -> dict[str, Any]: ...


class MarketoUsage(Protocol):
    def usage_today(self) -> int: ...


@dataclass(frozen=True)
class Budget:
    """One budget. `resets_at` is None for a rolling window (it has no single reset)."""

    name: str
    source: str
    used: int
    limit: int
    resets_at: datetime | None
    window: str

    @property
    def left(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def exhausted(self) -> bool:
        return self.used >= self.limit

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "used": self.used,
            "left": self.left,
            "limit": self.limit,
            "exhausted": self.exhausted,
            "resets_at": self.resets_at.isoformat() if self.resets_at else None,
            "window": self.window,
        }


def budgets(
    limiter: Limiter,
    *,
    salesforce: SalesforceLimits | None = None,
    marketo: MarketoUsage | None = None,
) -> tuple[list[Budget], list[str]]:
    """The budgets the limiter counts, plus the vendors' own numbers when clients are given.

    Asking the vendors costs one call each (Salesforce /limits, Marketo stats/usage); Marketo's
    answer also raises the limiter's count of today when other integrations used the quota.
    Returns the budgets and notes on what could not be read.
    """
    notes: list[str] = []
    found: list[Budget] = []
    if marketo is not None:
        try:
            reported = marketo.usage_today()
        except ApiError as error:
            notes.append(f"Marketo stats/usage not read: {error}")
        else:
            snapshot = limiter.snapshot()
            found.append(
                Budget(
                    "Marketo daily quota",
                    "Marketo stats/usage",
                    reported,
                    snapshot.marketo_daily_quota,
                    _when(snapshot.marketo_resets_at),
                    MARKETO_WINDOW,
                )
            )
    snapshot = limiter.snapshot()
    found.extend(_from_snapshot(snapshot))
    if salesforce is not None:
        try:
            daily = salesforce.limits().get("DailyApiRequests") or {}
            maximum, remaining = int(daily["Max"]), int(daily["Remaining"])
        except ApiError as error:
            notes.append(f"Salesforce /limits not read: {error}")
        except (KeyError, TypeError, ValueError):
            notes.append("Salesforce /limits answered without DailyApiRequests")
        else:
            # The org's own answer replaces the (older) figure from the last call's header.
            found = [b for b in found if b.name != "Salesforce daily API (org)"]
            found.append(
                Budget(
                    "Salesforce daily API (org)",
                    "Salesforce /limits",
                    maximum - remaining,
                    maximum,
                    None,
                    SALESFORCE_WINDOW,
                )
            )
    return found, notes


def _from_snapshot(snapshot: BudgetSnapshot) -> list[Budget]:
    resets = _when(snapshot.marketo_resets_at)
    found = [
        Budget(
            "Marketo daily quota",
            "counted here",
            snapshot.marketo_used_today,
            snapshot.marketo_daily_quota,
            resets,
            MARKETO_WINDOW,
        ),
        Budget(
            "Salesforce daily API",
            "counted here",
            snapshot.salesforce_used_24h,
            snapshot.salesforce_daily_limit,
            None,
            SALESFORCE_WINDOW,
        ),
    ]
    if snapshot.salesforce_org_used is not None and snapshot.salesforce_org_max is not None:
        found.append(
            Budget(
                "Salesforce daily API (org)",
                "last call's header",
                snapshot.salesforce_org_used,
                snapshot.salesforce_org_max,
                None,
                SALESFORCE_WINDOW,
            )
        )
    return found


def writeback_shares(limiter: Limiter) -> list[Budget]:
    """The write-back's own slices of both daily budgets."""
    snapshot, config = limiter.snapshot(), limiter.config
    return [
        Budget(
            "Marketo quota, write-back share",
            "counted here",
            snapshot.writeback_marketo_used_today,
            writeback_cap(config.writeback_marketo_share, config.marketo_daily_quota),
            _when(snapshot.marketo_resets_at),
            MARKETO_WINDOW,
        ),
        Budget(
            "Salesforce API, write-back share",
            "counted here",
            snapshot.writeback_salesforce_used_24h,
            writeback_cap(config.writeback_salesforce_share, config.salesforce_daily_limit),
            None,
            SALESFORCE_WINDOW,
        ),
    ]


def _when(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
