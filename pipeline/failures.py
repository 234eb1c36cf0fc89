"""The failures table: record why a record did not reach Marketo, resolve it when it does."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from models.base import utcnow
from models.records import FAILURE_OPEN, FAILURE_RESOLVED, KIND_ERROR, KIND_WARNING, Failure
from models.upsert import insert_for


@dataclass(frozen=True)
class FailedRecord:
    object_type: str
    sf_id: str
    sobject: str
    step: str
    code: str
    message: str
    kind: str = KIND_ERROR
    payload: dict[str, Any] | None = None
    lookup: str = ""


def record_failures(session: Session, run_id: int | None, failed: Iterable[FailedRecord]) -> int:
    """Open (or re-open) a failure row per record; repeated failures count attempts."""
    rows = [
        {
            "object_type": f.object_type,
            "sf_id": f.sf_id,
            "sobject": f.sobject,
            "step": f.step,
            "kind": f.kind,
            "code": f.code[:64],
            "message": f.message[:4000],
            "status": FAILURE_OPEN,
            "attempts": 1,
            "run_id": run_id,
            "payload": f.payload,
            "lookup": f.lookup,
            "first_seen_at": utcnow(),
            "last_seen_at": utcnow(),
        }
        for f in failed
    ]
    if not rows:
        return 0
    statement = insert_for(session, Failure)
    excluded = statement.excluded
    statement = statement.on_conflict_do_update(
        index_elements=["object_type", "sf_id", "kind"],
        set_={
            "step": excluded.step,
            "code": excluded.code,
            "message": excluded.message,
            "run_id": excluded.run_id,
            "payload": excluded.payload,
            "lookup": excluded.lookup,
            "last_seen_at": excluded.last_seen_at,
            "attempts": Failure.attempts + 1,
            # A dismissed failure stays dismissed; a resolved one that fails again re-opens.
            "status": _reopen(),
            "resolved_at": None,
        },
    )
    # Deduplicate: one statement cannot touch the same conflict target twice.
    unique = {(r["object_type"], r["sf_id"], r["kind"]): r for r in rows}
    session.execute(statement, list(unique.values()))
    return len(unique)


def _reopen() -> Any:
    from sqlalchemy import case

    return case((Failure.status == "dismissed", Failure.status), else_=FAILURE_OPEN)


def resolve_failures(session: Session, object_type: str, sf_ids: Iterable[str], kind: str = KIND_ERROR) -> None:
    """Mark open failures of these records resolved: they are in Marketo now."""
    ids = list(sf_ids)
    for start in range(0, len(ids), 500):
        session.execute(
            update(Failure)
            .where(
                Failure.object_type == object_type,
                Failure.kind == kind,
                Failure.status == FAILURE_OPEN,
                Failure.sf_id.in_(ids[start : start + 500]),
            )
            .values(status=FAILURE_RESOLVED, resolved_at=utcnow())
        )


def resolve_warnings(session: Session, object_type: str, sf_ids: Iterable[str]) -> None:
    resolve_failures(session, object_type, sf_ids, kind=KIND_WARNING)
