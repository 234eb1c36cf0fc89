"""The start of a pass: check the target fields, page the activity log, and choose whom to read and write."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from clients.errors import ConfigurationError
from models.base import utcnow
from models.db import session_scope
from models.runs import CHUNK_RUNNING, Chunk, SyncRun
from pipeline.sending import ChunkResult, Claim, LeaseLost
from pipeline.writeback import activities, passes
from pipeline.writeback.budget import PassBudget
from pipeline.writeback.fields import DescribePort, FieldSpec, inspect_targets
from pipeline.writeback.mapping import WritebackMapping
from pipeline.writeback.people import choose, waiting_writes


def targets_for(
    database_url: str,
    run_id: int,
    salesforce: DescribePort,
    mapping: WritebackMapping,
    cache: timedelta,
    before_describe: Callable[[int], None],
) -> dict[str, FieldSpec]:
    """The target fields' specs: from a recent pass's check of the same mapping, or described now.

    Raises ConfigurationError naming every problem and its fix when a field is missing or locked.
    """
    known = _recent_check(database_url, mapping, cache)
    if known is None:
        before_describe(2)
        check = inspect_targets(salesforce, mapping)
        if check.problems:
            lines = "; ".join(str(problem) for problem in check.problems)
            raise ConfigurationError(
                f"the write-back cannot write its target fields: {lines}", setting="WRITEBACK_FIELD_MAPPING_FILE"
            )
        known = {
            "checked_at": utcnow().isoformat(),
            "mapping": mapping.digest(),
            "specs": {name: spec.as_dict() for name, spec in check.specs.items()},
        }
    with session_scope(database_url) as session:
        run = session.get(SyncRun, run_id)
        assert run is not None
        run.summary = {**(run.summary or {}), "targets": known}
    return specs_of(known)


def specs_of(targets: dict[str, Any]) -> dict[str, FieldSpec]:
    return {name: FieldSpec(str(spec["type"]), int(spec.get("length") or 0)) for name, spec in targets["specs"].items()}


def _recent_check(database_url: str, mapping: WritebackMapping, cache: timedelta) -> dict[str, Any] | None:
    with session_scope(database_url) as session:
        summaries = session.scalars(
            select(SyncRun.summary).where(SyncRun.kind == passes.KIND).order_by(SyncRun.id.desc()).limit(5)
        ).all()
    for summary in summaries:
        targets = (summary or {}).get("targets")
        if not targets or targets.get("mapping") != mapping.digest():
            continue
        if datetime.fromisoformat(targets["checked_at"]) > utcnow() - cache:
            return dict(targets)
    return None


def scan_and_plan(
    database_url: str,
    claimed: Claim,
    marketo: activities.ActivityPort,
    budget: PassBudget,
    lease: timedelta,
) -> ChunkResult:
    """Page activities within the scan's share of the pass's calls, then plan reads and writes."""
    with session_scope(database_url) as session:
        spent = int(session.scalar(select(Chunk.calls).where(Chunk.id == claimed.chunk_id)) or 0)

    def count_call(session: Session) -> None:
        kept = session.execute(  # type: ignore[attr-defined]
            update(Chunk)
            .where(Chunk.id == claimed.chunk_id, Chunk.holder == claimed.holder, Chunk.status == CHUNK_RUNNING)
            .values(calls=Chunk.calls + 1, lease_until=utcnow() + lease)
        ).rowcount
        if not kept:
            raise LeaseLost(f"chunk {claimed.chunk_id} was taken over")

    found = activities.scan(database_url, marketo, budget.scan_calls - spent, in_transaction=count_call)
    with session_scope(database_url) as session:
        chunk = session.get(Chunk, claimed.chunk_id, with_for_update=True)
        if chunk is None or chunk.holder != claimed.holder:
            raise LeaseLost(f"chunk {claimed.chunk_id} was taken over before the plan was stored")
        flagged_limit, total = budget.people(chunk.calls)
        people, flagged = choose(session, flagged=flagged_limit, total=total)
        read_chunks = passes.plan_reads(session, claimed.run_id, people)
        waiting = waiting_writes(session)
        passes.stage_writes(session, claimed.run_id, waiting)
        passes.form_write_chunks(session, claimed.run_id, final=False)
        run = session.get(SyncRun, claimed.run_id)
        assert run is not None
        run.summary = {
            **(run.summary or {}),
            "writeback": {
                "budget_calls": budget.calls,
                "scan_calls": chunk.calls,
                "activity_pages": found.pages,
                "activities": found.activities,
                "flagged": found.flagged,
                "caught_up": found.caught_up,
                "planned_reads": read_chunks,
                "planned_people": len(people),
                "planned_flagged": flagged,
                "waiting_writes": len(waiting),
            },
        }
        chunk.size, chunk.succeeded = len(people), len(people)
        passes.end_chunk(session, chunk)
        return ChunkResult(claimed.chunk_id, chunk.status, len(people), 0, chunk.calls)
