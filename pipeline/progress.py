"""A run's life: start under the one-run lock, open steps whose dependencies are done, finish and move watermarks.

Every function here is idempotent and decides from the database alone, so it may be called
by any task, by a chord callback, or by the sweeper, as often as they like.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from clients.errors import MsiSyncError
from models.base import utcnow
from models.records import Watermark
from models.runs import (
    CHUNK_ENDED,
    CHUNK_QUEUED,
    CHUNK_READY,
    EXTRACT_DONE,
    RUN_FAILED,
    RUN_RUNNING,
    RUN_SUCCEEDED,
    STEP_DONE,
    STEP_OPEN,
    STEP_PENDING,
    Chunk,
    RunExtract,
    RunStep,
    StagedRecord,
    SyncRun,
)
from models.upsert import insert_for
from pipeline import objects as o
from pipeline.staging import form_chunks, unchunked_lookups


class RunAlreadyRunning(MsiSyncError):
    """Another run of the same kind holds the lock; this one does not start."""

    action = "wait"

    def __init__(self, run: SyncRun | None) -> None:
        if run is None:
            message = "another run is already running"
        else:
            message = f"run {run.id} is already running (started {run.started_at:%Y-%m-%d %H:%M:%S} UTC)"
        super().__init__(message)
        self.run_id = run.id if run else None


def running_run(session: Session, kind: str = "sync") -> SyncRun | None:
    return session.scalars(select(SyncRun).where(SyncRun.kind == kind, SyncRun.status == RUN_RUNNING)).first()


def start_run(
    session: Session,
    *,
    object_types: list[str] | tuple[str, ...],
    full: bool,
    trigger: str,
    overlap: timedelta,
) -> SyncRun:
    """Create a run with its extracts and steps, or raise RunAlreadyRunning.

    The lock is a unique index over running runs, so two beats or two people starting a
    cycle at the same moment cannot both get one.
    """
    unknown = set(object_types) - set(o.OBJECT_TYPES)
    if unknown:
        raise ValueError(f"unknown object types {sorted(unknown)}; choose from {', '.join(o.OBJECT_TYPES)}")
    run = SyncRun(kind="sync", status=RUN_RUNNING, trigger=trigger, full=full, objects=list(object_types))
    session.add(run)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise RunAlreadyRunning(running_run(session)) from None
    marks = {row.sobject: row.value for row in session.scalars(select(Watermark))}
    for sobject in o.sobjects_for(list(object_types)):
        mark = None if full else marks.get(sobject)
        session.add(RunExtract(run_id=run.id, sobject=sobject, since=mark - overlap if mark else None))
    for step in o.STEPS:
        session.add(RunStep(run_id=run.id, step=step.name))
    session.flush()
    return run


@dataclass
class Advanced:
    opened: list[str] = field(default_factory=list)
    done: list[str] = field(default_factory=list)
    finished: bool = False


def advance(session: Session, run_id: int) -> Advanced:
    """Open every step whose dependencies are done; close every open step that has nothing left.

    A step is done when the extracts feeding it are done and each of its chunks has ended.
    When every step is done the run finishes and its watermarks move.
    """
    result = Advanced()
    # NO KEY UPDATE (PostgreSQL): one advance at a time, as before, but no waiting for extract
    # pages being staged. Their inserts hold KEY SHARE on this row through the foreign keys,
    # and FOR UPDATE queued behind every page in flight, with each chunk's touch() behind it.
    run = session.get(SyncRun, run_id, with_for_update={"key_share": True})
    if run is None or run.status != RUN_RUNNING:
        return result
    extracts = {row.sobject: row for row in session.scalars(select(RunExtract).where(RunExtract.run_id == run_id))}
    steps = {row.step: row for row in session.scalars(select(RunStep).where(RunStep.run_id == run_id))}
    changed = True
    while changed:
        changed = False
        for step in o.STEPS:
            row = steps[step.name]
            if row.status == STEP_PENDING and all(steps[d].status == STEP_DONE for d in step.after):
                row.status, row.opened_at = STEP_OPEN, utcnow()
                result.opened.append(step.name)
                changed = True
            feeders_done = all(extracts[s].status == EXTRACT_DONE for s in step.sobjects if s in extracts)
            if row.status == STEP_OPEN and feeders_done:
                for lookup in unchunked_lookups(session, run_id, step.name):
                    form_chunks(session, run_id, step.name, lookup, final=True)
                if active_chunks(session, run_id, step.name) == 0:
                    row.status, row.done_at = STEP_DONE, utcnow()
                    result.done.append(step.name)
                    changed = True
    session.flush()
    if all(row.status == STEP_DONE for row in steps.values()):
        finish_run(session, run, list(extracts.values()))
        result.finished = True
    return result


def active_chunks(session: Session, run_id: int, step: str) -> int:
    """Chunks of a step that have not ended yet (ready, queued, running or waiting)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Chunk)
            .where(Chunk.run_id == run_id, Chunk.step == step, Chunk.status.not_in(CHUNK_ENDED))
        )
        or 0
    )


def claim_ready_chunks(session: Session, run_id: int) -> dict[str, list[int]]:
    """Mark the ready chunks of open steps queued and return them, per step, for dispatch.

    The UPDATE ... WHERE status='ready' is the claim: two callers racing get disjoint sets.
    """
    open_steps = list(
        session.scalars(select(RunStep.step).where(RunStep.run_id == run_id, RunStep.status == STEP_OPEN))
    )
    if not open_steps:
        return {}
    now = utcnow()
    claimed = session.execute(
        update(Chunk)
        .where(Chunk.run_id == run_id, Chunk.step.in_(open_steps), Chunk.status == CHUNK_READY)
        .values(status=CHUNK_QUEUED, queued_at=now, due_at=now)
        .returning(Chunk.id, Chunk.step)
    ).all()
    by_step: dict[str, list[int]] = {}
    for chunk_id, step in sorted(claimed):
        by_step.setdefault(step, []).append(chunk_id)
    return by_step


def finish_run(session: Session, run: SyncRun, extracts: list[RunExtract]) -> None:
    """Close a run whose every step is done: move the watermarks, keep a summary, drop the staging."""
    now = utcnow()
    for extract in extracts:
        if extract.max_modstamp is None:
            continue
        statement = insert_for(session, Watermark).values(
            sobject=extract.sobject, value=extract.max_modstamp, run_id=run.id, updated_at=now
        )
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["sobject"],
                set_={"value": statement.excluded.value, "run_id": run.id, "updated_at": now},
            )
        )
    run.summary = summarize(session, run.id)
    run.status, run.finished_at, run.progress_at = RUN_SUCCEEDED, now, now
    session.execute(delete(StagedRecord).where(StagedRecord.run_id == run.id))


def fail_run(session: Session, run_id: int, error: str) -> None:
    """Stop a run for good (credentials refused, org guard...); its watermarks stay where they were."""
    run = session.get(SyncRun, run_id, with_for_update=True)
    if run is None or run.status != RUN_RUNNING:
        return
    run.status, run.error, run.finished_at = RUN_FAILED, error[:4000], utcnow()
    run.summary = summarize(session, run_id)
    session.execute(delete(StagedRecord).where(StagedRecord.run_id == run_id))


def touch(session: Session, run_id: int) -> None:
    session.execute(update(SyncRun).where(SyncRun.id == run_id).values(progress_at=utcnow()))


def summarize(session: Session, run_id: int) -> dict[str, Any]:
    """Per object type: extracted = unchanged + invalid + staged; staged + retried + follow-ups = sent + failed."""
    summary: dict[str, Any] = {kind: _zero() for kind in o.OBJECT_TYPES}
    for extract in session.scalars(select(RunExtract).where(RunExtract.run_id == run_id)):
        counts = summary[o.OBJECT_TYPE_OF[extract.sobject]]
        counts["extracted"] += extract.extracted
        counts["unchanged"] += extract.unchanged
        counts["invalid"] += extract.invalid
        counts["staged"] += extract.staged
        counts["retried"] += extract.retried
        counts["warnings"] += extract.warnings
    rows = session.execute(
        select(Chunk.step, func.sum(Chunk.succeeded), func.sum(Chunk.failed), func.sum(Chunk.calls), func.count())
        .where(Chunk.run_id == run_id)
        .group_by(Chunk.step)
    ).all()
    for step, succeeded, failed, calls, chunks in rows:
        counts = summary[o.STEP_BY_NAME[step].object_type]
        counts["sent"] += int(succeeded or 0)
        counts["failed"] += int(failed or 0)
        counts["calls"] += int(calls or 0)
        counts["chunks"] += int(chunks or 0)
    for row in session.scalars(select(RunStep).where(RunStep.run_id == run_id, RunStep.followups > 0)):
        summary[o.STEP_BY_NAME[row.step].object_type]["followups"] += row.followups
    return summary


def _zero() -> dict[str, int]:
    keys = (
        "extracted",
        "unchanged",
        "invalid",
        "staged",
        "retried",
        "followups",
        "sent",
        "failed",
        "warnings",
        "calls",
        "chunks",
    )
    return dict.fromkeys(keys, 0)


def latest_watermarks(session: Session) -> dict[str, datetime]:
    return {row.sobject: row.value for row in session.scalars(select(Watermark))}
