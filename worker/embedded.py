"""Everything in one process: a Celery worker on a thread, with the in-memory broker (the demo's engine)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from worker.celery_app import app, mark_in_process
from worker.queues import QUEUES


@contextmanager
def embedded_worker(concurrency: int = 8, loglevel: str = "WARNING") -> Iterator[Any]:
    """Run a thread-pool worker consuming every queue until the block ends."""
    mark_in_process()
    worker = app.WorkController(
        pool_cls="threads",
        concurrency=concurrency,
        loglevel=loglevel,
        queues=[queue.name for queue in QUEUES],
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
        hostname=f"embedded@{threading.get_ident()}",
    )
    thread = threading.Thread(target=worker.start, name="embedded-worker", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while worker.blueprint is None or worker.blueprint.state != 1:  # RUN
        if time.monotonic() > deadline:
            raise RuntimeError("the in-process worker did not start within 30 s")
        time.sleep(0.05)
    try:
        yield worker
    finally:
        worker.stop(in_sighandler=False)
        thread.join(timeout=30)
