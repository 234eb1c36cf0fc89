"""A write-back pass in the database: start under the lock, its chunks (scan, reads, writes), advance, finish, sweep.

A pass is a SyncRun of kind "writeback" whose work is Chunk rows of three steps: one scan of
Marketo's activities that also plans the pass, read chunks of at most 300 filter values, and
write chunks of at most 200 records. People travel as StagedRecord rows. Every function here
decides from the database alone, so a lost message, a retried task or the sweeper calling it
again cannot make a pass write twice or hang.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from models.base import UTCDateTime, utcnow
from models.db import session_scope
from models.runs import (
    CHUNK_DONE,
    CHUNK_ENDED,
    CHUNK_FAILED,
    CHUNK_QUEUED,
    CHUNK_READY,
    CHUNK_RUNNING,
    CHUNK_WAITING,
    RUN_FAILED,
    RUN_RUNNING,
    RUN_SUCCEEDED,
    Chunk,
    StagedRecord,
    SyncRun,
)
from models.upsert import insert_for
from pipeline.progress import RunAlreadyRunning, active_chunks, running_run
from pipeline.sending import Claim, LeaseLost
from pipeline.writeback.people import Person

KIND = "writeback"
SCAN, READ, WRITE = "writeback:scan", "writeback:read", "writeback:write"
STEPS = (SCAN, READ, WRITE)
FILTER_VALUES_PER_READ = 300
RECORDS_PER_WRITE = 200
# Outcomes a write leaves on its staged row, counted in the pass summary.
WRITTEN, CONVERTED, DELETED, LOCKED, FAILED, SKIPPED = "written", "converted", "deleted", "locked", "failed", "skipped"


def start_pass(session: Session, trigger: str) -> tuple[int, int]:
    """Create the pass and its scan chunk (queued), or raise RunAlreadyRunning; returns (run id, chunk id)."""
    run = SyncRun(kind=KIND, status=RUN_RUNNING, trigger=trigger, objects=["leads"])
    session.add(run)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise RunAlreadyRunning(running_run(session, KIND)) from None
    now = utcnow()
    chunk = Chunk(run_id=run.id, step=SCAN, seq=1, status=CHUNK_QUEUED, queued_at=now, due_at=now)
    session.add(chunk)
    session.flush()
    return run.id, chunk.id


def plan_reads(session: Session, run_id: int, people: list[Person]) -> int:
    """Cut the people into read chunks of at most 300 filter values (aliases count); returns the chunk count."""
    groups: list[list[Person]] = []
    values = FILTER_VALUES_PER_READ
    for person in people:
        if values + person.filter_values > FILTER_VALUES_PER_READ:
            groups.append([])
            values = 0
        groups[-1].append(person)
        values += person.filter_values
    for seq, group in enumerate(groups, start=1):
        chunk = Chunk(run_id=run_id, step=READ, seq=seq, status=CHUNK_READY, size=len(group))
        session.add(chunk)
        session.flush()
        rows = [
            {
                "run_id": run_id,
                "step": READ,
                "lookup": "",
                "sf_id": p.sf_id,
                "sobject": p.sobject,
                "chunk_id": chunk.id,
                "payload": {"marketo_id": p.marketo_id, "aliases": list(p.aliases)},
                "fingerprint": "",
            }
            for p in group
        ]
        session.connection().execute(insert_for(session, StagedRecord.__table__), rows)
    return len(groups)


def stage_writes(session: Session, run_id: int, people: Iterable[tuple[str, str]]) -> None:
    """Queue people for writing in this pass (once each; their values are taken from their state at write time)."""
    rows = [
        {
            "run_id": run_id,
            "step": WRITE,
            "lookup": "",
            "sf_id": sf_id,
            "sobject": sobject,
            "payload": {},
            "fingerprint": "",
        }
        for sf_id, sobject in people
    ]
    if rows:
        statement = insert_for(session, StagedRecord.__table__).on_conflict_do_nothing(
            index_elements=["run_id", "step", "sf_id"]
        )
        session.connection().execute(statement, rows)


def form_write_chunks(session: Session, run_id: int, *, final: bool) -> int:
    """Group unchunked people to write into chunks of 200 (the last one smaller only when `final`)."""
    formed = 0
    seq = int(session.scalar(select(func.count()).select_from(Chunk).where(Chunk.run_id == run_id)) or 0)
    while True:
        ids = list(
            session.scalars(
                select(StagedRecord.id)
                .where(StagedRecord.run_id == run_id, StagedRecord.step == WRITE, StagedRecord.chunk_id.is_(None))
                .order_by(StagedRecord.id)
                .limit(RECORDS_PER_WRITE)
            )
        )
        if not ids or (len(ids) < RECORDS_PER_WRITE and not final):
            return formed
        seq += 1
        move_to_new_chunk(session, run_id, ids, seq=seq)
        formed += 1


def move_to_new_chunk(
    session: Session, run_id: int, staged_ids: list[int], *, seq: int = 0, due_at: datetime | None = None
) -> int:
    """A new ready write chunk holding these staged rows (also how a write's follow-ups are retried)."""
    chunk = Chunk(run_id=run_id, step=WRITE, seq=seq, status=CHUNK_READY, size=len(staged_ids), due_at=due_at)
    session.add(chunk)
    session.flush()
    session.execute(update(StagedRecord).where(StagedRecord.id.in_(staged_ids)).values(chunk_id=chunk.id))
    return chunk.id


def claim_reads(session: Session, run_id: int) -> list[int]:
    """Mark the ready read chunks queued and return them for dispatch (the UPDATE is the claim)."""
    now = utcnow()
    return sorted(
        session.scalars(
            update(Chunk)
            .where(Chunk.run_id == run_id, Chunk.step == READ, Chunk.status == CHUNK_READY)
            .values(status=CHUNK_QUEUED, queued_at=now, due_at=now)
            .returning(Chunk.id)
        ).all()
    )


def claim_next_write(session: Session, run_id: int) -> tuple[int, float] | None:
    """Queue the next write chunk unless one is queued, running or parked; returns (chunk id, seconds until due).

    Writes of a pass go one at a time: Salesforce takes 200 records a call, so there is nothing
    to gain from parallel writes, and one writer keeps the write-back's budget checks exact and
    its rows out of each other's locks. Call it at the start of a fresh transaction: on SQLite
    the UPDATE then takes the write lock before it reads, on PostgreSQL the run row is locked.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(SyncRun.id).where(SyncRun.id == run_id).with_for_update())
    other = aliased(Chunk)
    active = exists().where(
        other.run_id == run_id, other.step == WRITE, other.status.in_((CHUNK_QUEUED, CHUNK_RUNNING, CHUNK_WAITING))
    )
    first = (
        select(Chunk.id)
        .where(Chunk.run_id == run_id, Chunk.step == WRITE, Chunk.status == CHUNK_READY)
        .order_by(Chunk.due_at.asc().nulls_first(), Chunk.id)
        .limit(1)
        .scalar_subquery()
    )
    now = utcnow()
    taken = session.execute(
        update(Chunk)
        .where(Chunk.id == first, ~active)
        .values(
            status=CHUNK_QUEUED,
            queued_at=now,
            due_at=func.coalesce(Chunk.due_at, bindparam("now", now, type_=UTCDateTime())),
        )
        .returning(Chunk.id, Chunk.due_at)
    ).first()
    if taken is None:
        return None
    chunk_id, due_at = taken
    return int(chunk_id), max(0.0, (due_at - now).total_seconds()) if due_at else 0.0


def advance(session: Session, run_id: int) -> bool:
    """Form the last write chunk once every read has ended; finish the pass once everything has. True if finished."""
    run = session.get(SyncRun, run_id, with_for_update=True)
    if run is None or run.status != RUN_RUNNING or run.kind != KIND:
        return False
    active = dict(
        session.execute(
            select(Chunk.step, func.count())
            .where(Chunk.run_id == run_id, Chunk.status.not_in(CHUNK_ENDED))
            .group_by(Chunk.step)
        ).all()
    )
    if active.get(SCAN) or active.get(READ):
        return False
    form_write_chunks(session, run_id, final=True)
    if active.get(WRITE) or active_chunks(session, run_id, WRITE):
        return False
    finish_pass(session, run)
    return True


def finish_pass(session: Session, run: SyncRun) -> None:
    now = utcnow()
    run.summary = {**(run.summary or {}), "writeback": summarize(session, run.id, (run.summary or {}).get("writeback"))}
    run.status, run.finished_at, run.progress_at = RUN_SUCCEEDED, now, now
    session.execute(delete(StagedRecord).where(StagedRecord.run_id == run.id))


def fail_pass(session: Session, run_id: int, error: str) -> None:
    """End the pass for good (target fields missing, credentials refused): the next beat starts afresh."""
    run = session.get(SyncRun, run_id, with_for_update=True)
    if run is None or run.status != RUN_RUNNING:
        return
    run.summary = {**(run.summary or {}), "writeback": summarize(session, run_id, (run.summary or {}).get("writeback"))}
    run.status, run.error, run.finished_at = RUN_FAILED, error[:4000], utcnow()
    session.execute(delete(StagedRecord).where(StagedRecord.run_id == run_id))


def summarize(session: Session, run_id: int, planned: dict[str, Any] | None) -> dict[str, Any]:
    """The scan's numbers plus, from the chunks, what the reads and writes did."""
    summary: dict[str, Any] = dict(planned or {})
    by_step = {
        step: (int(size or 0), int(ok or 0), int(bad or 0), int(calls or 0), int(chunks or 0))
        for step, size, ok, bad, calls, chunks in session.execute(
            select(
                Chunk.step,
                func.sum(Chunk.size),
                func.sum(Chunk.succeeded),
                func.sum(Chunk.failed),
                func.sum(Chunk.calls),
                func.count(),
            )
            .where(Chunk.run_id == run_id)
            .group_by(Chunk.step)
        ).all()
    }
    people, found, missing, read_calls, _ = by_step.get(READ, (0, 0, 0, 0, 0))
    _, _, _, scan_calls, _ = by_step.get(SCAN, (0, 0, 0, 0, 0))
    _, _, _, write_calls, write_chunks = by_step.get(WRITE, (0, 0, 0, 0, 0))
    outcomes: dict[str, int] = {}
    for payload in session.scalars(
        select(StagedRecord.payload).where(StagedRecord.run_id == run_id, StagedRecord.step == WRITE)
    ):
        outcome = str((payload or {}).get("outcome", "unwritten"))
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    summary.update(
        {
            "read": people,
            "found": found,
            "not_found": missing,
            "changed": sum(outcomes.values()),
            "written": outcomes.get(WRITTEN, 0) + outcomes.get(CONVERTED, 0),
            "converted": outcomes.get(CONVERTED, 0),
            "deleted": outcomes.get(DELETED, 0),
            "locked": outcomes.get(LOCKED, 0),
            "failed": outcomes.get(FAILED, 0),
            "marketo_calls": scan_calls + read_calls,
            "salesforce_write_calls": write_calls,
            "write_chunks": write_chunks,
        }
    )
    return summary


def touch(session: Session, run_id: int) -> None:
    session.execute(update(SyncRun).where(SyncRun.id == run_id).values(progress_at=utcnow()))


@dataclass
class Stale:
    """Work of running passes to send again: (run id, step, chunk id), and passes to move on."""

    chunks: list[tuple[int, str, int]] = field(default_factory=list)
    runs: list[int] = field(default_factory=list)


def find_stale(session: Session, grace: timedelta) -> Stale:
    """Parked chunks whose time has come, chunks whose worker died (lease ran out), and queued
    chunks of a pass idle for `grace` (their message was lost)."""
    now = utcnow()
    stale = Stale()
    for run in session.scalars(select(SyncRun).where(SyncRun.kind == KIND, SyncRun.status == RUN_RUNNING)):
        stale.runs.append(run.id)
        conditions = [
            and_(Chunk.status == CHUNK_WAITING, Chunk.due_at <= now),
            and_(Chunk.status == CHUNK_RUNNING, Chunk.lease_until < now),
        ]
        if run.progress_at < now - grace:
            conditions.append(and_(Chunk.status == CHUNK_QUEUED, Chunk.due_at < now - grace))
            run.progress_at = now  # one re-send per grace period
        found = session.execute(
            select(Chunk.id, Chunk.step, Chunk.status).where(Chunk.run_id == run.id, or_(*conditions))
        ).all()
        waiting = [chunk_id for chunk_id, _, status in found if status == CHUNK_WAITING]
        if waiting:
            session.execute(update(Chunk).where(Chunk.id.in_(waiting)).values(status=CHUNK_QUEUED, queued_at=now))
        stale.chunks += [(run.id, step, chunk_id) for chunk_id, step, _ in found]
    return stale


def end_chunk(session: Session, chunk: Chunk, *, failed: bool = False, error: str | None = None) -> None:
    chunk.status = CHUNK_FAILED if failed else CHUNK_DONE
    chunk.ended_at, chunk.holder, chunk.lease_until = utcnow(), None, None
    if error:
        chunk.error = error[:4000]
    touch(session, chunk.run_id)


def abandon_chunk(database_url: str, claimed: Claim, error: str) -> None:
    """End a chunk as failed without touching its people (a read that cannot be done: they stay unread)."""
    with session_scope(database_url) as session:
        chunk = session.get(Chunk, claimed.chunk_id, with_for_update=True)
        if chunk is None or chunk.holder not in (claimed.holder, None) or chunk.status in CHUNK_ENDED:
            raise LeaseLost(f"chunk {claimed.chunk_id} is no longer ours")
        end_chunk(session, chunk, failed=True, error=error)


def fail_pass_now(database_url: str, run_id: int, error: str) -> None:
    with session_scope(database_url) as session:
        fail_pass(session, run_id, error)
