"""Find work the broker lost or a dead worker left behind, from the database alone."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from models.base import utcnow
from models.runs import (
    CHUNK_QUEUED,
    CHUNK_RUNNING,
    CHUNK_WAITING,
    EXTRACT_DONE,
    RUN_RUNNING,
    Chunk,
    RunExtract,
    SyncRun,
)
from pipeline import objects as o


@dataclass
class Sweep:
    """What to send again: chunk (run, step, id) triples and extract (run, object type) pairs."""

    chunks: list[tuple[int, str, int]] = field(default_factory=list)
    extracts: list[tuple[int, str]] = field(default_factory=list)
    runs: list[int] = field(default_factory=list)


def find_stale(session: Session, grace: timedelta) -> Sweep:
    """Stale means:

    - a chunk waiting for a budget whose time has come;
    - a chunk whose lease ran out (its worker died mid-call);
    - a queued chunk of a run that made no progress for `grace` (its message was lost, for
      instance because Redis restarted empty) — a busy run is left alone, its queue drains;
    - an extract nobody holds that has not finished, in a run idle for `grace`.
    Sending one of them twice is harmless: a chunk runs only for the holder of its lease.
    """
    now = utcnow()
    sweep = Sweep()
    runs = session.scalars(select(SyncRun).where(SyncRun.kind == "sync", SyncRun.status == RUN_RUNNING)).all()
    for run in runs:
        sweep.runs.append(run.id)
        idle = run.progress_at < now - grace
        conditions = [
            and_(Chunk.status == CHUNK_WAITING, Chunk.due_at <= now),
            and_(Chunk.status == CHUNK_RUNNING, Chunk.lease_until < now),
        ]
        if idle:
            conditions.append(and_(Chunk.status == CHUNK_QUEUED, Chunk.due_at < now - grace))
        due = or_(*conditions)
        stale = session.execute(select(Chunk.id, Chunk.step, Chunk.status).where(Chunk.run_id == run.id, due)).all()
        waiting = [chunk_id for chunk_id, _, status in stale if status == CHUNK_WAITING]
        if waiting:
            session.execute(
                update(Chunk).where(Chunk.id.in_(waiting)).values(status=CHUNK_QUEUED, queued_at=now, due_at=now)
            )
        sweep.chunks.extend((run.id, step, chunk_id) for chunk_id, step, _ in stale)
        if idle:
            pending = session.scalars(
                select(RunExtract.sobject).where(
                    RunExtract.run_id == run.id,
                    RunExtract.status != EXTRACT_DONE,
                    or_(RunExtract.lease_until.is_(None), RunExtract.lease_until < now),
                )
            ).all()
            types = {o.OBJECT_TYPE_OF[sobject] for sobject in pending}
            sweep.extracts.extend((run.id, kind) for kind in sorted(types))
            run.progress_at = now  # one re-send per grace period, not one per sweep
    return sweep
