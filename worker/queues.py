"""Queues and routing in one place: a task meets its queue here and nowhere else."""

from __future__ import annotations

from kombu import Queue  # type: ignore[attr-defined]

SYNC = "sync"  # cycle control: start, extract from Salesforce, step callbacks, sweeper
MARKETO = "marketo"  # chunk writes to Marketo, paced by the shared limiter
WRITEBACK = "writeback"  # score write-back, served by its own worker so it never starves the sync

QUEUES = (Queue(SYNC), Queue(MARKETO), Queue(WRITEBACK))  # type: ignore[no-untyped-call]

ROUTES: dict[str, dict[str, str]] = {
    "msi.start_cycle": {"queue": SYNC},
    "msi.extract": {"queue": SYNC},
    "msi.chunks_done": {"queue": SYNC},
    "msi.sweep": {"queue": SYNC},
    "msi.upsert_chunk": {"queue": MARKETO},
    "msi.start_writeback": {"queue": WRITEBACK},
    "msi.writeback_read": {"queue": WRITEBACK},
    "msi.writeback_write": {"queue": WRITEBACK},
    "msi.writeback_done": {"queue": WRITEBACK},
}
