"""Send one chunk to Marketo: claim it, resolve its links, write, and record every record's outcome.

A chunk is claimed with a lease and a holder token before anything is sent, and the lease is
renewed right before each request leaves, so two copies of a chunk task (a redelivered message, a
sweeper re-run) can never both write: the second finds the lease held or the chunk ended.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from clients.errors import RequestRejected
from models.base import utcnow
from models.db import session_scope
from models.runs import (
    CHUNK_DONE,
    CHUNK_ENDED,
    CHUNK_FAILED,
    CHUNK_QUEUED,
    CHUNK_RUNNING,
    CHUNK_WAITING,
    RUN_RUNNING,
    Chunk,
    StagedRecord,
    SyncRun,
)
from pipeline import objects as o
from pipeline.failures import FailedRecord, record_failures
from pipeline.ports import MarketoPort
from pipeline.progress import touch
from pipeline.writers import WRITERS, Outcome

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Claim:
    chunk_id: int
    run_id: int
    step: str
    lookup: str
    holder: str


@dataclass
class ChunkResult:
    """What a chunk task reports (small: ids and counts only, it travels through the broker)."""

    chunk_id: int
    status: str
    succeeded: int = 0
    failed: int = 0
    calls: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "chunk": self.chunk_id,
            "status": self.status,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "calls": self.calls,
        }


class LeaseLost(Exception):
    """Another worker took the chunk over (our lease expired); stop without writing."""


def claim(database_url: str, chunk_id: int, lease: timedelta) -> Claim | ChunkResult:
    """Take the chunk, or say why not (ended, held by another worker, run no longer running)."""
    holder = uuid.uuid4().hex
    now = utcnow()
    with session_scope(database_url) as session:
        chunk = session.get(Chunk, chunk_id)
        if chunk is None:
            return ChunkResult(chunk_id, "missing")
        if chunk.status in CHUNK_ENDED:
            return ChunkResult(chunk_id, chunk.status, chunk.succeeded, chunk.failed, chunk.calls)
        if session.scalar(select(SyncRun.status).where(SyncRun.id == chunk.run_id)) != RUN_RUNNING:
            return ChunkResult(chunk_id, "run-over")
        taken = session.execute(  # type: ignore[attr-defined]
            update(Chunk)
            .where(
                Chunk.id == chunk_id,
                or_(
                    Chunk.status.in_((CHUNK_QUEUED, CHUNK_WAITING)),
                    (Chunk.status == CHUNK_RUNNING) & (Chunk.lease_until < now),
                ),
            )
            .values(
                status=CHUNK_RUNNING,
                holder=holder,
                lease_until=now + lease,
                attempts=Chunk.attempts + 1,
                started_at=now,
            )
        ).rowcount
        if not taken:
            return ChunkResult(chunk_id, "busy")
        return Claim(chunk_id, chunk.run_id, chunk.step, chunk.lookup, holder)


def renew(database_url: str, claimed: Claim, lease: timedelta) -> None:
    """Extend our lease right before a Marketo call; raise LeaseLost if it is no longer ours."""
    with session_scope(database_url) as session:
        kept = session.execute(  # type: ignore[attr-defined]
            update(Chunk)
            .where(Chunk.id == claimed.chunk_id, Chunk.holder == claimed.holder, Chunk.status == CHUNK_RUNNING)
            .values(lease_until=utcnow() + lease)
        ).rowcount
    if not kept:
        raise LeaseLost(f"chunk {claimed.chunk_id} was taken over")


def release(database_url: str, claimed: Claim, *, due_in: float, waiting: bool, transient: bool) -> None:
    """Give the chunk back to be tried again in `due_in` seconds (by a retry or the sweeper)."""
    with session_scope(database_url) as session:
        session.execute(
            update(Chunk)
            .where(Chunk.id == claimed.chunk_id, Chunk.holder == claimed.holder)
            .values(
                status=CHUNK_WAITING if waiting else CHUNK_QUEUED,
                holder=None,
                lease_until=None,
                due_at=utcnow() + timedelta(seconds=due_in),
                transient_failures=Chunk.transient_failures + (1 if transient else 0),
            )
        )


def keep_until_lease_ends(database_url: str, claimed: Claim) -> int:
    """Count a cut-short attempt, keeping the chunk ours until its lease runs out; return the count.

    A task stopped by its time limit may have a call in flight; the lease, renewed right before
    that call, outlasts it, so nobody sends the chunk again while the call may still land.
    """
    with session_scope(database_url) as session:
        session.execute(
            update(Chunk)
            .where(Chunk.id == claimed.chunk_id, Chunk.holder == claimed.holder)
            .values(transient_failures=Chunk.transient_failures + 1)
        )
        return int(session.scalar(select(Chunk.transient_failures).where(Chunk.id == claimed.chunk_id)) or 0)


def transient_failures(database_url: str, chunk_id: int) -> int:
    with session_scope(database_url) as session:
        return int(session.scalar(select(Chunk.transient_failures).where(Chunk.id == chunk_id)) or 0)


def _rows(session: Session, chunk_id: int) -> list[StagedRecord]:
    return list(
        session.scalars(select(StagedRecord).where(StagedRecord.chunk_id == chunk_id).order_by(StagedRecord.id))
    )


def send(database_url: str, claimed: Claim, marketo: MarketoPort, lease: timedelta) -> ChunkResult:
    """Write the chunk's records and store every outcome; API exceptions propagate to the task."""
    step = o.STEP_BY_NAME[claimed.step]
    writer = WRITERS[step.name]
    with session_scope(database_url) as session:
        rows = _rows(session, claimed.chunk_id)
        session.expunge_all()
    outcome = Outcome()
    with session_scope(database_url) as session:
        plan = writer.prepare(session, claimed, rows, outcome)
    if plan is not None:
        # The lease is renewed right before each request leaves, after any wait for a token:
        # a wait longer than the lease can then never let a second copy send too.
        with marketo.guard_sends(lambda: renew(database_url, claimed, lease)):
            writer.write(marketo, plan, outcome)
    return _store(database_url, claimed, outcome)


def _store(database_url: str, claimed: Claim, outcome: Outcome) -> ChunkResult:
    with session_scope(database_url) as session:
        chunk = session.get(Chunk, claimed.chunk_id, with_for_update=True)
        if chunk is None or chunk.holder != claimed.holder:
            raise LeaseLost(f"chunk {claimed.chunk_id} was taken over before its results were stored")
        step = o.STEP_BY_NAME[claimed.step]
        for apply in outcome.on_success:
            apply(session)
        record_failures(session, claimed.run_id, outcome.failures)
        chunk.status = CHUNK_DONE
        chunk.succeeded, chunk.failed, chunk.calls = outcome.succeeded, len(outcome.failures), outcome.calls
        chunk.ended_at, chunk.holder, chunk.lease_until = utcnow(), None, None
        touch(session, claimed.run_id)
        log.info(
            "chunk %s %s: %s written, %s failed, %s calls",
            claimed.chunk_id,
            step.name,
            outcome.succeeded,
            len(outcome.failures),
            outcome.calls,
        )
        return ChunkResult(claimed.chunk_id, CHUNK_DONE, outcome.succeeded, len(outcome.failures), outcome.calls)


def fail_chunk(database_url: str, claimed: Claim, code: str, message: str) -> ChunkResult:
    """End the chunk as failed: every record goes to the failures table, to be retried next cycle."""
    step = o.STEP_BY_NAME[claimed.step]
    with session_scope(database_url) as session:
        chunk = session.get(Chunk, claimed.chunk_id, with_for_update=True)
        if chunk is None or chunk.holder not in (claimed.holder, None) or chunk.status in CHUNK_ENDED:
            raise LeaseLost(f"chunk {claimed.chunk_id} is no longer ours")
        rows = _rows(session, claimed.chunk_id)
        record_failures(
            session,
            claimed.run_id,
            [
                FailedRecord(
                    step.object_type,
                    row.sf_id,
                    row.sobject,
                    step.name,
                    code,
                    message,
                    payload=row.payload,
                    lookup=row.lookup,
                )
                for row in rows
            ],
        )
        chunk.status, chunk.failed, chunk.error = CHUNK_FAILED, len(rows), f"{code}: {message}"[:4000]
        chunk.ended_at, chunk.holder, chunk.lease_until = utcnow(), None, None
        touch(session, claimed.run_id)
        return ChunkResult(claimed.chunk_id, CHUNK_FAILED, 0, len(rows))


def rejected_message(error: RequestRejected) -> tuple[str, str]:
    return (error.code or "REJECTED", f"Marketo refused the whole call: {error.message}")
