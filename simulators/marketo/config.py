"""The simulator's tunable numbers (limits, latency, time scale), changeable while it runs."""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from typing import Any


@dataclass
class SimConfig:
    """Marketo's numbers and the simulator's speed.

    ``time_scale`` divides every duration (rate window, latency, token life, MSI epoch, quota
    day) so that benchmarks run the same rules faster; counts (100 calls, 10 in flight, quota)
    never change with it.
    """

    client_id: str = "msi-sync-demo"
    client_secret: str = "demo-secret"
    daily_quota: int = 50_000
    calls_per_window: int = 100
    window_seconds: float = 20.0
    max_concurrency: int = 10
    time_scale: float = 1.0
    latency_per_call: float = 0.0
    latency_per_record: float = 0.0
    token_lifetime: float = 3600.0
    msi_epoch_seconds: float | None = None
    max_body_bytes: int = 1_048_576
    max_uri_bytes: int = 8_192

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def scaled(self, seconds: float) -> float:
        """Real seconds that `seconds` of Marketo time last at this time scale."""
        return seconds / self.time_scale

    def latency(self, records: int) -> float:
        return self.scaled(self.latency_per_call + self.latency_per_record * records)

    def as_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data.pop("client_secret")
        return data

    _MUTABLE = frozenset(
        {
            "daily_quota",
            "calls_per_window",
            "window_seconds",
            "max_concurrency",
            "time_scale",
            "latency_per_call",
            "latency_per_record",
            "token_lifetime",
            "msi_epoch_seconds",
        }
    )

    def update(self, changes: dict[str, Any]) -> list[str]:
        """Apply the known keys of `changes`; return the unknown ones (refused)."""
        unknown = [key for key in changes if key not in self._MUTABLE]
        if unknown:
            return unknown
        with self._lock:
            for key, value in changes.items():
                current = getattr(self, key)
                if value is None:
                    setattr(self, key, None)
                elif isinstance(current, int) and not isinstance(current, bool):
                    setattr(self, key, int(value))
                else:
                    setattr(self, key, float(value))
            if self.time_scale <= 0:
                raise ValueError("time_scale must be positive")
        return []
