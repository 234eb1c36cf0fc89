"""Marketo's instance-wide limits: 100 calls per sliding 20 s, 10 in flight, a daily quota; plus usage stats.

Which calls count (DEV/error-codes): every REST call except those answered with an asterisked
code (601, 602, 604, 605, 608, 611, and 600 from Adobe's KB list). Identity calls never count
(swagger identity). A call refused with 606, 607 or 615 does count, as the docs say nothing to
the contrary. HTTP-level refusals from the gateway (413, 414, 502, 503) are decided before the
API sees the call and are not counted (decision).

The quota day is the America/Chicago calendar day at time_scale 1 (resets at midnight, DEV);
with another time scale a "day" lasts 86,400 s / time_scale from the moment the scale was set.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from simulators.marketo.config import SimConfig

CHICAGO = ZoneInfo("America/Chicago")
NOT_COUNTED = frozenset({"600", "601", "602", "604", "605", "608", "611"})
DAY_SECONDS = 86_400.0


@dataclass(frozen=True)
class Admission:
    """A call let in: it holds an in-flight slot until released."""

    at: float
    in_flight: bool


class Limits:
    """The shared counters of one simulated instance. Thread-safe."""

    def __init__(self, config: SimConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._window: deque[float] = deque()
        self._in_flight = 0
        self._peak_in_flight = 0
        self._day_key = ""
        self._scaled_origin = time.time()
        self._scale_seen = config.time_scale
        self._used: Counter[str] = Counter()  # per API user
        self._errors: Counter[str] = Counter()

    # --- admission ----------------------------------------------------------------------
    def admit(self, user: str) -> tuple[Admission | None, str | None]:
        """Let a call in, or say which code refuses it (607, 606, 615); refusals are counted."""
        config = self._config
        with self._lock:
            now = time.time()
            self._roll_day(now)
            self._prune(now)
            if sum(self._used.values()) >= config.daily_quota:
                self._count(now, user)
                return None, "607"
            if len(self._window) >= config.calls_per_window:
                self._count(now, user)
                return None, "606"
            if self._in_flight >= config.max_concurrency:
                self._count(now, user)
                return None, "615"
            self._in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)
            self._count(now, user)
            return Admission(at=now, in_flight=True), None

    def count_only(self, user: str) -> float:
        """Count a call that is answered without an in-flight slot (e.g. an injected 606)."""
        with self._lock:
            now = time.time()
            self._roll_day(now)
            self._count(now, user)
            return now

    def finish(self, admission: Admission | None, counted_at: float | None, user: str, code: str | None) -> None:
        """Release the slot; take the call back out of the counts when its code is not counted."""
        with self._lock:
            if admission is not None and admission.in_flight:
                self._in_flight -= 1
            stamp = admission.at if admission is not None else counted_at
            if code is not None:
                self._errors[code] += 1
            if stamp is not None and code in NOT_COUNTED:
                with contextlib.suppress(ValueError):  # already slid out of the window
                    self._window.remove(stamp)
                if self._used[user] > 0:
                    self._used[user] -= 1

    def _count(self, now: float, user: str) -> None:
        self._window.append(now)
        self._used[user] += 1

    def _prune(self, now: float) -> None:
        horizon = now - self._config.scaled(self._config.window_seconds)
        while self._window and self._window[0] <= horizon:
            self._window.popleft()

    def _roll_day(self, now: float) -> None:
        scale = self._config.time_scale
        if scale != self._scale_seen:
            self._scale_seen = scale
            self._scaled_origin = now
        if scale == 1.0:
            key = datetime.fromtimestamp(now, CHICAGO).date().isoformat()
        else:
            key = f"scaled-{int((now - self._scaled_origin) // (DAY_SECONDS / scale))}"
        if key != self._day_key:
            self._day_key = key
            self._used.clear()
            self._errors.clear()

    # --- what the stats endpoints and the control API show ----------------------------
    def usage(self) -> tuple[str, dict[str, int]]:
        with self._lock:
            self._roll_day(time.time())
            return self._day_key, {user: n for user, n in self._used.items() if n}

    def errors(self) -> dict[str, int]:
        with self._lock:
            return dict(self._errors)

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            now = time.time()
            self._roll_day(now)
            self._prune(now)
            return {
                "day": self._day_key,
                "used_today": sum(self._used.values()),
                "calls_in_window": len(self._window),
                "in_flight": self._in_flight,
                "peak_in_flight": self._peak_in_flight,
            }

    def reset(self) -> None:
        with self._lock:
            self._window.clear()
            self._used.clear()
            self._errors.clear()
            self._peak_in_flight = self._in_flight
