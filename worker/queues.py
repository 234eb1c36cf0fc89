"""Queues and routing in one place: a task meets its queue here and nowhere else."""

from __future__ import annotations

from kombu import Exchange, Queue  # type: ignore[attr-defined]

SYNC = "sync"  # cycle control: start, extract from Salesforce, sweeper
MARKETO = "marketo"  # chunk writes to Marketo (paced by the shared limiter) and their wave callbacks
WRITEBACK = "writeback"  # score write-back, served by its own worker so it never starves the sync

# Each queue on its own direct exchange and routing key. Left to defaults, Celery binds every
# declared queue to the default exchange with the default key, and each message would be
# copied into all of them.
QUEUES = tuple(
    Queue(name, Exchange(name, type="direct"), routing_key=name)  # type: ignore[no-untyped-call]
    for name in (SYNC, MARKETO, WRITEBACK)
)

ROUTES: dict[str, dict[str, str]] = {
    "msi.start_cycle": {"queue": SYNC},
    "msi.extract": {"queue": SYNC},
    # The callback that opens the next stage runs where the stage ends, not behind long
    # extract tasks on the sync queue: the next stage starts the moment this one is done.
    "msi.chunks_done": {"queue": MARKETO},
    "msi.sweep": {"queue": SYNC},
    "msi.upsert_chunk": {"queue": MARKETO},
    "msi.start_writeback": {"queue": WRITEBACK},
    "msi.writeback_scan": {"queue": WRITEBACK},
    "msi.writeback_read": {"queue": WRITEBACK},
    "msi.writeback_write": {"queue": WRITEBACK},
    "msi.writeback_sweep": {"queue": WRITEBACK},
}
