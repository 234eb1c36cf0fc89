"""The sweeper task: re-send lost or abandoned work and move stuck runs on (beat runs it every minute)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from models.db import session_scope
from pipeline.sweeper import find_stale
from tasks.cycle import _advance_and_dispatch
from tasks.dispatch import dispatch_extract, dispatch_standalone
from worker import context
from worker.celery_app import app

log = logging.getLogger(__name__)


@app.task(name="msi.sweep")
def sweep() -> dict[str, Any]:
    settings = context.settings()
    grace = timedelta(seconds=settings.CHUNK_LEASE_SECONDS)
    with session_scope(settings.DATABASE_URL) as session:
        found = find_stale(session, grace)
    for run_id, step, chunk_id in found.chunks:
        dispatch_standalone(run_id, step, chunk_id)
    for run_id, object_type in found.extracts:
        dispatch_extract(run_id, object_type)
    for run_id in found.runs:
        # A chord callback lost with the broker's data would leave a run waiting forever.
        _advance_and_dispatch(run_id)
    if found.chunks or found.extracts:
        log.warning("sweeper re-sent %s chunks and %s extracts", len(found.chunks), len(found.extracts))
    return {"chunks": len(found.chunks), "extracts": len(found.extracts), "runs": len(found.runs)}
