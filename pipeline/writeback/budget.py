"""How many Marketo calls one pass may spend, and how they split between finding changes and refreshing everyone."""

from __future__ import annotations

import math
from dataclasses import dataclass

from worker.settings import Settings

SECONDS_PER_DAY = 86_400
PEOPLE_PER_READ = 300  # filter values per Get Leads call
# Activities are the cheapest way to learn who changed, but not all: the nightly recompute of
# urgency and relative score leaves none. Half a pass at most goes to paging them, and a tenth
# of what is left for reading always goes to the round-robin refresh.
SCAN_FRACTION = 0.5
REFRESH_FRACTION = 0.1


def calls_per_pass(settings: Settings) -> int:
    """The setting, or the write-back's daily Marketo share spread evenly over the day's passes."""
    if settings.WRITEBACK_MARKETO_CALLS_PER_PASS is not None:
        return settings.WRITEBACK_MARKETO_CALLS_PER_PASS
    passes_per_day = SECONDS_PER_DAY / settings.WRITEBACK_INTERVAL_SECONDS
    daily_share = settings.MARKETO_DAILY_QUOTA * settings.WRITEBACK_MARKETO_SHARE
    return max(2, math.floor(daily_share / passes_per_day))


@dataclass(frozen=True)
class PassBudget:
    calls: int

    @property
    def scan_calls(self) -> int:
        """Calls the activity scan may use (type ids, paging token and pages together)."""
        return max(1, math.floor(self.calls * SCAN_FRACTION))

    def read_calls(self, scan_used: int) -> int:
        return max(0, self.calls - scan_used)

    def people(self, scan_used: int) -> tuple[int, int]:
        """(most people flagged by activities to read, most people to read in all) after the scan."""
        reads = self.read_calls(scan_used)
        refresh = math.floor(reads * REFRESH_FRACTION)
        return (reads - refresh) * PEOPLE_PER_READ, reads * PEOPLE_PER_READ
