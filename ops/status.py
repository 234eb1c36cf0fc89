"""What `msi-sync status` reports: the connection, the last runs per step and object type, the backlog."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.base import utcnow
from models.records import FAILURE_OPEN, Failure
from models.runs import CHUNK_ENDED, CHUNK_WAITING, RUN_RUNNING, Chunk, RunStep, StagedRecord, SyncRun
from ops.connection import active_connection, connection_as_dict
from ops.failures import open_error_counts
from pipeline import objects as o
from pipeline.progress import summarize

# A run's summary, as people name the counts: synced = sent to Marketo, skipped = unchanged.
COUNT_NAMES = {
    "extracted": "extracted",
    "sent": "synced",
    "unchanged": "skipped",
    "invalid": "invalid",
    "failed": "failed",
    "warnings": "warnings",
    "retried": "retried",
    "calls": "calls",
}


def status_report(session: Session, *, runs: int = 5) -> dict[str, Any]:
    """Everything but the budgets (those need the limiter): a JSON-ready dict."""
    return {
        "generated_at": utcnow().isoformat(),
        "connection": connection_as_dict(active_connection(session)),
        "runs": [run_report(session, run) for run in last_runs(session, runs)],
        "backlog": backlog(session),
    }


def last_runs(session: Session, count: int) -> list[SyncRun]:
    return list(session.scalars(select(SyncRun).order_by(SyncRun.id.desc()).limit(count)))


def run_report(session: Session, run: SyncRun) -> dict[str, Any]:
    """A run with its counts per object type and per step; a running run's counts are read live."""
    summary = summarize(session, run.id) if run.status == RUN_RUNNING or not run.summary else run.summary
    ended = run.finished_at or utcnow()
    return {
        "run": run.id,
        "kind": run.kind,
        "status": run.status,
        "trigger": run.trigger,
        "full": run.full,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "seconds": round((ended - run.started_at).total_seconds(), 1),
        "error": run.error,
        "objects": {
            kind: {label: int((summary.get(kind) or {}).get(key, 0)) for key, label in COUNT_NAMES.items()}
            for kind in o.OBJECT_TYPES
            if kind in summary
        },
        "steps": step_report(session, run.id),
    }


def step_report(session: Session, run_id: int) -> list[dict[str, Any]]:
    """Per step, in order: status, records (synced, failed, in ended chunks) and chunks (ended, waiting, all)."""
    statuses = dict(session.execute(select(RunStep.step, RunStep.status).where(RunStep.run_id == run_id)).all())
    rows = session.execute(
        select(
            Chunk.step,
            Chunk.status,
            func.count(),
            func.sum(Chunk.size),
            func.sum(Chunk.succeeded),
            func.sum(Chunk.failed),
        )
        .where(Chunk.run_id == run_id)
        .group_by(Chunk.step, Chunk.status)
    ).all()
    unchunked = dict(
        session.execute(
            select(StagedRecord.step, func.count())
            .where(StagedRecord.run_id == run_id, StagedRecord.chunk_id.is_(None))
            .group_by(StagedRecord.step)
        ).all()
    )
    report = []
    for step in o.STEPS:
        mine = [row for row in rows if row[0] == step.name]
        records = sum(int(row[3] or 0) for row in mine) + int(unchunked.get(step.name, 0))
        report.append(
            {
                "step": step.name,
                "object_type": step.object_type,
                "status": statuses.get(step.name, "-"),
                "records": records,
                "synced": sum(int(row[4] or 0) for row in mine),
                "failed": sum(int(row[5] or 0) for row in mine),
                "chunks": sum(int(row[2]) for row in mine),
                "chunks_ended": sum(int(row[2]) for row in mine if row[1] in CHUNK_ENDED),
                "chunks_waiting": sum(int(row[2]) for row in mine if row[1] == CHUNK_WAITING),
                "records_ended": sum(int(row[3] or 0) for row in mine if row[1] in CHUNK_ENDED),
            }
        )
    return report


def backlog(session: Session) -> dict[str, Any]:
    """What is left to do: open failures, chunks parked until a budget frees up, the running run's progress."""
    total, codes = open_error_counts(session)
    by_type = dict(
        session.execute(
            select(Failure.object_type, func.count())
            .where(Failure.status == FAILURE_OPEN)
            .group_by(Failure.object_type)
        ).all()
    )
    warnings = int(
        session.scalar(
            select(func.count()).select_from(Failure).where(Failure.status == FAILURE_OPEN, Failure.kind == "warning")
        )
        or 0
    )
    waiting = session.execute(
        select(Chunk.run_id, Chunk.step, func.count(), func.sum(Chunk.size), func.min(Chunk.due_at))
        .join(SyncRun, SyncRun.id == Chunk.run_id)
        .where(Chunk.status == CHUNK_WAITING, SyncRun.status == RUN_RUNNING)
        .group_by(Chunk.run_id, Chunk.step)
        .order_by(Chunk.run_id, Chunk.step)
    ).all()
    running = session.scalars(select(SyncRun).where(SyncRun.status == RUN_RUNNING).order_by(SyncRun.id)).all()
    return {
        "open_failures": total,
        "open_warnings": warnings,
        "open_by_object_type": {str(k): int(v) for k, v in by_type.items()},
        "open_by_code": [{"code": code, "count": count} for code, count in codes[:10]],
        "waiting_chunks": [
            {"run": run_id, "step": step, "chunks": int(chunks), "records": int(size or 0), "due_at": _iso(due)}
            for run_id, step, chunks, size, due in waiting
        ],
        "running": [
            {
                "run": run.id,
                "kind": run.kind,
                "started_at": run.started_at.isoformat(),
                "progress_at": run.progress_at.isoformat(),
                "steps": _progress(session, run.id),
            }
            for run in running
        ],
    }


def _progress(session: Session, run_id: int) -> list[dict[str, Any]]:
    return [
        {
            "step": s["step"],
            "records": s["records"],
            "synced": s["synced"],
            "failed": s["failed"],
            "chunks_ended": s["chunks_ended"],
            "chunks": s["chunks"],
        }
        for s in step_report(session, run_id)
        if s["records"]
    ]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
