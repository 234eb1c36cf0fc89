"""The failures table for people: list, show, retry, dismiss, export, and the piling-up alarm."""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from models.base import utcnow
from models.db import session_scope
from models.records import FAILURE_DISMISSED, FAILURE_OPEN, FAILURE_RESOLVED, KIND_ERROR, Failure
from worker.settings import Settings

STATUSES = (FAILURE_OPEN, FAILURE_RESOLVED, FAILURE_DISMISSED)
# Payload fields whose values are Salesforce or Marketo ids, never personal data: shown as they are.
ID_FIELDS = frozenset(
    {
        "externalPersonId",
        "externalSalesPersonId",
        "externalCompanyId",
        "externalOpportunityId",
        "contactId",
        "leadId",
        "id",
        "loser",
        "winner",
    }
)
CSV_COLUMNS = (
    "id",
    "object_type",
    "sobject",
    "sf_id",
    "step",
    "kind",
    "code",
    "message",
    "status",
    "attempts",
    "first_seen_at",
    "last_seen_at",
    "resolved_at",
    "run_id",
)


@dataclass(frozen=True)
class FailureFilter:
    """Which failures a command is about; unset fields match everything."""

    object_type: str | None = None
    code: str | None = None
    status: str | None = None
    kind: str | None = None
    ids: tuple[int, ...] = ()

    def conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.ids:
            found.append(Failure.id.in_(self.ids))
        if self.object_type:
            found.append(Failure.object_type == self.object_type)
        if self.code:
            found.append(Failure.code == self.code)
        if self.status:
            found.append(Failure.status == self.status)
        if self.kind:
            found.append(Failure.kind == self.kind)
        return found

    @property
    def empty(self) -> bool:
        return not self.conditions()


def list_failures(session: Session, where: FailureFilter, limit: int = 100) -> tuple[int, list[dict[str, Any]]]:
    """(how many match, the newest `limit` of them)."""
    total = int(session.scalar(select(func.count()).select_from(Failure).where(*where.conditions())) or 0)
    rows = session.scalars(
        select(Failure).where(*where.conditions()).order_by(Failure.last_seen_at.desc(), Failure.id.desc()).limit(limit)
    )
    return total, [failure_row(row) for row in rows]


def failure_row(row: Failure) -> dict[str, Any]:
    return {
        "id": row.id,
        "object_type": row.object_type,
        "sobject": row.sobject,
        "sf_id": row.sf_id,
        "step": row.step,
        "kind": row.kind,
        "code": row.code,
        "message": row.message,
        "status": row.status,
        "attempts": row.attempts,
        "first_seen_at": row.first_seen_at.isoformat(),
        "last_seen_at": row.last_seen_at.isoformat(),
        "resolved_at": row.resolved_at.isoformat() if row.resolved_at else None,
        "run_id": row.run_id,
    }


def show_failure(session: Session, failure_id: int) -> dict[str, Any] | None:
    row = session.get(Failure, failure_id)
    if row is None:
        return None
    return {
        **failure_row(row),
        "retryable": row.payload is not None,
        "payload": payload_summary(row.payload),
    }


def payload_summary(payload: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a person may see of a staged payload: id fields with values, other fields by name only."""
    if payload is None:
        return None
    return {
        "ids": {name: value for name, value in payload.items() if name in ID_FIELDS},
        "fields_set": sorted(n for n, v in payload.items() if n not in ID_FIELDS and v not in (None, "")),
        "fields_empty": sorted(n for n, v in payload.items() if n not in ID_FIELDS and v in (None, "")),
    }


def retry_failures(session: Session, where: FailureFilter) -> dict[str, int]:
    """Make matching failures open, so the next cycle sends their stored payload again.

    Dismissed ones are re-opened; resolved ones are already in Marketo and stay as they are.
    A failure without a payload (rejected before mapping) comes back only when its record
    changes in Salesforce or on a full sync: counted as `needs_change`.
    """
    conditions = [*where.conditions(), Failure.status != FAILURE_RESOLVED]
    matched = session.scalars(select(Failure).where(*conditions)).all()
    reopened = sum(1 for row in matched if row.status == FAILURE_DISMISSED)
    for row in matched:
        row.status, row.resolved_at = FAILURE_OPEN, None
    return {
        "retried": len(matched),
        "reopened": reopened,
        "needs_change": sum(1 for row in matched if row.payload is None),
    }


def dismiss_failures(session: Session, where: FailureFilter) -> int:
    """Stop retrying matching open failures; they stay visible with status dismissed."""
    dismissed = session.execute(
        update(Failure)
        .where(*where.conditions(), Failure.status == FAILURE_OPEN)
        .values(status=FAILURE_DISMISSED, resolved_at=utcnow())
        .returning(Failure.id)
    ).all()
    return len(dismissed)


def export_csv(
    session: Session, where: FailureFilter, path: Path, progress: Callable[[int, int], None] | None = None
) -> int:
    """Write matching failures (without payloads) to `path`; returns the row count."""
    total = int(session.scalar(select(func.count()).select_from(Failure).where(*where.conditions())) or 0)
    written = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        rows = session.scalars(
            select(Failure).where(*where.conditions()).order_by(Failure.id).execution_options(yield_per=1000)
        )
        for row in rows:
            writer.writerow({name: value for name, value in failure_row(row).items() if name in CSV_COLUMNS})
            written += 1
            if progress and written % 1000 == 0:
                progress(written, total)
    if progress:
        progress(written, total)
    return written


def open_error_counts(session: Session) -> tuple[int, list[tuple[str, int]]]:
    """Open error failures: the total, and the most common codes."""
    rows = session.execute(
        select(Failure.code, func.count())
        .where(Failure.status == FAILURE_OPEN, Failure.kind == KIND_ERROR)
        .group_by(Failure.code)
        .order_by(func.count().desc(), Failure.code)
    ).all()
    counts = [(str(code), int(count)) for code, count in rows]
    return sum(count for _, count in counts), counts


def check_backlog(settings: Settings) -> str | None:
    """Notify when open failures reach NOTIFY_FAILURES_THRESHOLD (once per period); returns the outcome."""
    from ops.notify import notify_failures_piling_up

    with session_scope(settings.DATABASE_URL) as session:
        total, codes = open_error_counts(session)
    if total < settings.NOTIFY_FAILURES_THRESHOLD:
        return None
    return notify_failures_piling_up(total, settings.NOTIFY_FAILURES_THRESHOLD, codes[:5], settings)


def parse_ids(values: Sequence[str]) -> tuple[int, ...]:
    ids = []
    for value in values:
        if not value.isdigit():
            raise ValueError(f"not a failure id: {value!r} (ids are the numbers `msi-sync failures list` shows)")
        ids.append(int(value))
    return tuple(ids)
