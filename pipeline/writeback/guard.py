"""The write-back's share of Salesforce's daily allocation, measured against the org's real maximum.

The shared limiter caps the write-back at a share of SALESFORCE_DAILY_API_LIMIT, and stops
everyone when Sforce-Limit-Info says the org has nothing left. An org whose allocation is below
the setting (a sandbox, a small edition) would still let the write-back take more than its share
of what is really there; this check closes that gap with the maximum the header reported. Writes
of a pass go one at a time (passes.claim_next_write), so checking before each call is exact.
"""

from __future__ import annotations

from clients.limiter import Limiter, salesforce_budget_error, writeback_cap

# The rolling 24 h window frees calls slowly: look again in an hour (the pass parks meanwhile).
SHARE_RETRY_SECONDS = 3600.0


def check_salesforce_share(limiter: Limiter, calls: int = 1) -> None:
    """Raise BudgetExhausted if `calls` more would take the write-back past its share of the org's allocation."""
    snapshot = limiter.snapshot()
    if snapshot.salesforce_org_max is None:
        return  # no call has reported the org's maximum yet; the limiter's own caps apply
    limit = min(limiter.config.salesforce_daily_limit, snapshot.salesforce_org_max)
    cap = writeback_cap(limiter.config.writeback_salesforce_share, limit)
    if snapshot.writeback_salesforce_used_24h + calls > cap:
        raise salesforce_budget_error(
            f"the write-back's share ({cap:,} calls) of the org's daily API allocation ({limit:,})", SHARE_RETRY_SECONDS
        )
