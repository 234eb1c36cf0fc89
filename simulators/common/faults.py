"""Seeded fault injection: each kind of fault fires with a configured probability or in bursts."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Burst:
    """From request `start` on, every `every` requests, the next `length` requests get the fault."""

    every: int
    length: int
    start: int = 0


@dataclass
class FaultPlan:
    """Probabilities (0..1) per fault kind, bursts per kind, and the seed that makes runs repeat.

    Kinds are simulator-specific strings ("http_500", "timeout", "applied_604", "burst_606",
    "early_token_expiry", "unable_to_lock_row", ...). A kind that is not configured never fires.
    """

    rates: dict[str, float] = field(default_factory=dict)
    bursts: dict[str, Burst] = field(default_factory=dict)
    seed: int = 0
    timeout_seconds: float = 30.0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultPlan:
        bursts = {kind: Burst(**spec) for kind, spec in (data.get("bursts") or {}).items()}
        return cls(
            rates={kind: float(rate) for kind, rate in (data.get("rates") or {}).items()},
            bursts=bursts,
            seed=int(data.get("seed", 0)),
            timeout_seconds=float(data.get("timeout_seconds", 30.0)),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "rates": dict(self.rates),
            "bursts": {k: {"every": b.every, "length": b.length, "start": b.start} for k, b in self.bursts.items()},
            "seed": self.seed,
            "timeout_seconds": self.timeout_seconds,
        }

    def fires(self, kind: str) -> bool:
        """Decide (and count) whether fault `kind` hits the current request."""
        with self._lock:
            count = self._counts.get(kind, 0)
            self._counts[kind] = count + 1
            burst = self.bursts.get(kind)
            if (
                burst
                and burst.every > 0
                and count >= burst.start
                and (count - burst.start) % burst.every < burst.length
            ):
                return True
            rate = self.rates.get(kind, 0.0)
            return rate > 0 and self._rng.random() < rate

    @property
    def active(self) -> bool:
        return any(rate > 0 for rate in self.rates.values()) or bool(self.bursts)
