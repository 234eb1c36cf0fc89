"""What a simulator was asked and what it answered, kept so tests can check the service's calls."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class LoggedRequest:
    """One request: timings are time.time() seconds; codes are the API's own (e.g. "606")."""

    seq: int
    started: float
    ended: float
    method: str
    path: str
    operation: str
    obj: str | None = None
    records: int = 0
    http_status: int = 200
    error_code: str | None = None
    record_codes: dict[str, int] = field(default_factory=dict)
    # Optional, simulator-specific request parameters worth asserting on (e.g. Marketo's
    # action, lookupField, _method); empty when a simulator records none.
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class RequestLog:
    """A thread-safe, append-only list of LoggedRequest with a bounded memory."""

    def __init__(self, max_entries: int = 2_000_000) -> None:
        self._entries: list[LoggedRequest] = []
        self._lock = threading.Lock()
        self._next_seq = 1
        self._max = max_entries

    def append(self, **fields: Any) -> LoggedRequest:
        with self._lock:
            entry = LoggedRequest(seq=self._next_seq, **fields)
            self._next_seq += 1
            self._entries.append(entry)
            if len(self._entries) > self._max:
                del self._entries[: len(self._entries) - self._max]
            return entry

    def since(self, seq: int = 0) -> list[LoggedRequest]:
        with self._lock:
            return [entry for entry in self._entries if entry.seq > seq]

    def all(self) -> list[LoggedRequest]:
        return self.since(0)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    @property
    def last_seq(self) -> int:
        with self._lock:
            return self._next_seq - 1
