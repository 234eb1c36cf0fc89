"""A sync run and its parts: extracts per Salesforce object, steps per stage, chunks, staged records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow

# Statuses, as plain strings so the database stays readable by people and SQL.
RUN_RUNNING, RUN_SUCCEEDED, RUN_FAILED, RUN_CANCELLED = "running", "succeeded", "failed", "cancelled"
EXTRACT_PENDING, EXTRACT_RUNNING, EXTRACT_DONE = "pending", "running", "done"
STEP_PENDING, STEP_OPEN, STEP_DONE = "pending", "open", "done"
# ready: formed, not yet sent to the broker; queued: a message exists (or should);
# running: a worker holds its lease; waiting: deferred past a long budget wait;
# done/failed: ended (failed means its records went to the failures table).
CHUNK_READY, CHUNK_QUEUED, CHUNK_RUNNING, CHUNK_WAITING = "ready", "queued", "running", "waiting"
CHUNK_DONE, CHUNK_FAILED = "done", "failed"
CHUNK_ENDED = (CHUNK_DONE, CHUNK_FAILED)


class SyncRun(Base):
    """One cycle (kind "sync") or one write-back pass (kind "writeback")."""

    __tablename__ = "sync_runs"
    __table_args__ = (
        # The lock: at most one running run of each kind, enforced by the database itself.
        Index(
            "uq_sync_runs_one_running",
            "kind",
            unique=True,
            sqlite_where=text("status = 'running'"),
            postgresql_where=text("status = 'running'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="sync")
    status: Mapped[str] = mapped_column(String(16), default=RUN_RUNNING)
    trigger: Mapped[str] = mapped_column(String(16), default="cli")
    full: Mapped[bool] = mapped_column(default=False)
    objects: Mapped[list[str]] = mapped_column(default=list)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    # Moves on every extract page and every chunk end; the sweeper reads stalls from it.
    progress_at: Mapped[datetime] = mapped_column(default=utcnow)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)


class RunExtract(Base):
    """Reading one Salesforce object for a run; resumable from its stored cursor."""

    __tablename__ = "run_extracts"
    __table_args__ = (UniqueConstraint("run_id", "sobject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("sync_runs.id", ondelete="CASCADE"), index=True)
    sobject: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16), default=EXTRACT_PENDING)
    since: Mapped[datetime | None] = mapped_column(default=None)
    cursor: Mapped[str | None] = mapped_column(Text, default=None)
    # Highest SystemModstamp read so far, and the Id at it: the resume point if the cursor dies.
    max_modstamp: Mapped[datetime | None] = mapped_column(default=None)
    extracted: Mapped[int] = mapped_column(default=0)
    staged: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    invalid: Mapped[int] = mapped_column(default=0)
    warnings: Mapped[int] = mapped_column(default=0)
    # Failed records of earlier runs put back into this one.
    retried: Mapped[int] = mapped_column(default=0)
    pages: Mapped[int] = mapped_column(default=0)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class RunStep(Base):
    """One step of a run (e.g. "leads:upsert"): opens when its dependencies are done."""

    __tablename__ = "run_steps"
    __table_args__ = (UniqueConstraint("run_id", "step"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("sync_runs.id", ondelete="CASCADE"), index=True)
    step: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16), default=STEP_PENDING)
    # Writes a step adds for a later one (e.g. deleting a role's old key after its change).
    followups: Mapped[int] = mapped_column(default=0)
    opened_at: Mapped[datetime | None] = mapped_column(default=None)
    done_at: Mapped[datetime | None] = mapped_column(default=None)
    # The moment its first and last Marketo write started and ended (for the order checks).
    first_write_at: Mapped[datetime | None] = mapped_column(default=None)
    last_write_end_at: Mapped[datetime | None] = mapped_column(default=None)


class Chunk(Base):
    """At most 300 staged records of one step, sent in one Marketo call."""

    __tablename__ = "chunks"
    __table_args__ = (Index("ix_chunks_run_step_status", "run_id", "step", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("sync_runs.id", ondelete="CASCADE"))
    step: Mapped[str] = mapped_column(String(40))
    lookup: Mapped[str] = mapped_column(String(40), default="")
    seq: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(16), default=CHUNK_READY)
    size: Mapped[int] = mapped_column(default=0)
    attempts: Mapped[int] = mapped_column(default=0)
    transient_failures: Mapped[int] = mapped_column(default=0)
    # Who holds it now: a token per attempt, so a late copy of the task cannot write over a newer one.
    holder: Mapped[str | None] = mapped_column(String(40), default=None)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    due_at: Mapped[datetime | None] = mapped_column(default=None)
    queued_at: Mapped[datetime | None] = mapped_column(default=None)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    succeeded: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    calls: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text, default=None)


class StagedRecord(Base):
    """A record extracted from Salesforce and mapped, waiting for (or in) a chunk."""

    __tablename__ = "staged_records"
    __table_args__ = (
        UniqueConstraint("run_id", "step", "sf_id"),
        # The records not yet in a chunk, in staging order: chunks are cut from the front of it.
        # Without the condition the planner walks every chunked row too, slower with each page.
        Index(
            "ix_staged_unchunked",
            "run_id",
            "step",
            "lookup",
            "id",
            sqlite_where=text("chunk_id IS NULL"),
            postgresql_where=text("chunk_id IS NULL"),
        ),
        # A chunk task loads its records by chunk id.
        Index("ix_staged_records_chunk_id", "chunk_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("sync_runs.id", ondelete="CASCADE"))
    step: Mapped[str] = mapped_column(String(40))
    lookup: Mapped[str] = mapped_column(String(40), default="")
    sf_id: Mapped[str] = mapped_column(String(18))
    sobject: Mapped[str] = mapped_column(String(40))
    chunk_id: Mapped[int | None] = mapped_column(ForeignKey("chunks.id", ondelete="CASCADE"), default=None)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    fingerprint: Mapped[str] = mapped_column(String(64), default="")
    modstamp: Mapped[datetime | None] = mapped_column(default=None)
