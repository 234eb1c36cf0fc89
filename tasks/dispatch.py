"""Send work to the broker: chunk waves as flat chords, extract tasks, and standalone re-runs."""

from __future__ import annotations

import logging

from celery import chord

from models.db import session_scope
from pipeline.progress import claim_ready_chunks
from worker import context

log = logging.getLogger(__name__)


def chunk_signature(run_id: int, step: str, chunk_id: int, *, standalone: bool = False):  # type: ignore[no-untyped-def]
    from tasks.chunks import upsert_chunk

    # The shadow name is what Flower and the logs show: run, step and chunk at a glance.
    return upsert_chunk.signature(
        kwargs={"run_id": run_id, "step": step, "chunk_id": chunk_id, "standalone": standalone},
        immutable=True,
        shadow=f"{step} run {run_id} chunk {chunk_id}",
    )


def dispatch_ready(run_id: int) -> int:
    """Claim the ready chunks of every open step and send each step's batch as one chord.

    The chord body records nothing itself: it asks the database whether the step is done
    (pipeline.progress.advance). Chords stay flat: never nested, never inside a chain.
    """
    from tasks.cycle import chunks_done

    with session_scope(context.database_url()) as session:
        claimed = claim_ready_chunks(session, run_id)
    sent = 0
    for step, chunk_ids in claimed.items():
        header = [chunk_signature(run_id, step, chunk_id) for chunk_id in chunk_ids]
        body = chunks_done.signature(
            kwargs={"run_id": run_id, "step": step}, immutable=True, shadow=f"{step} run {run_id} wave done"
        )
        chord(header)(body)
        sent += len(chunk_ids)
    if sent:
        log.info("run %s: dispatched %s chunks", run_id, sent)
    return sent


def dispatch_standalone(run_id: int, step: str, chunk_id: int) -> None:
    """Re-send one chunk outside any chord (the sweeper's way); it advances the run itself."""
    chunk_signature(run_id, step, chunk_id, standalone=True).apply_async()


def dispatch_extract(run_id: int, object_type: str, sobjects: list[str] | None = None) -> None:
    from tasks.cycle import extract

    what = "+".join(sobjects) if sobjects else object_type
    extract.signature(
        kwargs={"run_id": run_id, "object_type": object_type, "sobjects": sobjects},
        immutable=True,
        shadow=f"extract {what} run {run_id}",
    ).apply_async()
