"""One write chunk: at most 200 people's changed values in one sObject Collections update, every result handled.

Converted Leads go to their Contact (ConvertedContactId, one query for the chunk's converted
Leads); deleted records are marked and left alone; locked rows are tried again a little later,
then by the next pass; anything else goes to the failures table with Salesforce's code and message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol, cast

from simple_salesforce.format import format_soql
from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from clients import sfids
from clients.salesforce import QueryPage, SaveResult
from models.base import utcnow
from models.db import session_scope
from models.runs import Chunk, StagedRecord
from pipeline.failures import FailedRecord, record_failures, resolve_failures
from pipeline.fingerprint import fingerprint
from pipeline.sending import ChunkResult, Claim, LeaseLost, renew
from pipeline.writeback import passes as p
from pipeline.writeback.people import DELETED, FAILED, LOCKED, OK, load_states, set_status

log = logging.getLogger(__name__)
OBJECT_TYPE = "writeback"  # the failures table's object_type for write-back failures
CONVERTED_LEAD = "CANNOT_UPDATE_CONVERTED_LEAD"
IS_DELETED = "ENTITY_IS_DELETED"
ROW_LOCKED = "UNABLE_TO_LOCK_ROW"
NO_CONTACT = "NO_CONVERTED_CONTACT"
# A row lock is held for seconds (a trigger, a bulk job on the parent Account): try again after
# 5 s, then 10 s; after that the values wait for the next pass, which writes them first.
LOCK_RETRIES = 2
LOCK_RETRY_SECONDS = 5.0


class RecordWriter(Protocol):
    def update(self, records: list[dict[str, Any]]) -> list[SaveResult]: ...

    def query(self, soql: str, *, include_deleted: bool = False) -> Iterator[QueryPage]: ...


@dataclass
class _Item:
    staged_id: int
    sf_id: str
    sobject: str
    payload: dict[str, Any]
    fields: dict[str, Any]
    target: str | None
    result: SaveResult | None = None


@dataclass
class _Outcome:
    written: list[_Item] = field(default_factory=list)
    failures: list[FailedRecord] = field(default_factory=list)
    converting: list[_Item] = field(default_factory=list)
    relocking: list[_Item] = field(default_factory=list)
    payloads: dict[int, dict[str, Any]] = field(default_factory=dict)


def write_chunk(
    database_url: str,
    claimed: Claim,
    salesforce: RecordWriter,
    before_call: Callable[[], None],
    lease: timedelta,
) -> ChunkResult:
    """Write the chunk's pending values; `before_call` runs before each Salesforce call (the share check)."""
    items, skipped = _load(database_url, claimed)
    calls = 0
    unresolved = [item for item in items if item.payload.get("resolve") and item.target == item.sf_id]
    if unresolved:
        before_call()
        renew(database_url, claimed, lease)
        contacts = converted_contacts(salesforce, [item.sf_id for item in unresolved])
        calls += 1
        for item in unresolved:
            item.target = contacts.get(item.sf_id)
    sendable = [item for item in items if item.target]
    if sendable:
        before_call()
        renew(database_url, claimed, lease)
        results = salesforce.update(
            [{"Id": item.target, "_type": _sobject(item.target), **item.fields} for item in sendable if item.target]
        )
        calls += 1
        for item, result in zip(sendable, results, strict=True):
            item.result = result
    return _store(database_url, claimed, items, skipped, calls)


def converted_contacts(salesforce: RecordWriter, lead_ids: list[str]) -> dict[str, str | None]:
    """Lead id -> ConvertedContactId, in one query (at most 200 ids: well under the URI limit)."""
    ids = sorted(
        {sfids.to_18(i) for i in lead_ids if sfids.is_valid(i) and sfids.to_18(i).startswith(sfids.PREFIX_LEAD)}
    )
    if not ids:
        return {}
    soql = format_soql("SELECT Id, ConvertedContactId FROM Lead WHERE Id IN {ids}", ids=ids)
    found: dict[str, str | None] = {}
    for page in salesforce.query(soql):
        for record in page.records:
            contact = record.get("ConvertedContactId")
            found[str(record["Id"])] = str(contact) if contact else None
    return found


def _sobject(record_id: str) -> str:
    return "Lead" if record_id.startswith(sfids.PREFIX_LEAD) else "Contact"


def _load(database_url: str, claimed: Claim) -> tuple[list[_Item], list[int]]:
    with session_scope(database_url) as session:
        rows = list(
            session.scalars(
                select(StagedRecord).where(StagedRecord.chunk_id == claimed.chunk_id).order_by(StagedRecord.id)
            )
        )
        states = load_states(session, (row.sf_id for row in rows))
        items: list[_Item] = []
        skipped: list[int] = []
        for row in rows:
            state = states.get(row.sf_id)
            if state is None or not state.pending or state.status == DELETED:
                skipped.append(row.id)  # written meanwhile, or gone
                continue
            items.append(
                _Item(
                    row.id,
                    row.sf_id,
                    row.sobject,
                    dict(row.payload or {}),
                    dict(state.pending),
                    state.written_to or row.sf_id,
                )
            )
        return items, skipped


def _judge(items: list[_Item]) -> _Outcome:
    """Sort every record's result into what happens next."""
    outcome = _Outcome()
    for item in items:
        payload = dict(item.payload)
        result = item.result
        if item.target is None:
            payload["outcome"] = p.FAILED
            outcome.failures.append(
                FailedRecord(
                    OBJECT_TYPE,
                    item.sf_id,
                    item.sobject,
                    p.WRITE,
                    NO_CONTACT,
                    "Salesforce says the Lead is converted but names no ConvertedContactId (deleted since?)",
                )
            )
        elif result is None or result.success:
            payload["outcome"] = p.CONVERTED if item.target != item.sf_id else p.WRITTEN
            outcome.written.append(item)
        else:
            code, message = (result.errors[0][0], result.errors[0][1]) if result.errors else ("UNKNOWN", "")
            if code == CONVERTED_LEAD and not payload.get("resolve"):
                payload["resolve"] = True
                outcome.converting.append(item)
            elif code == IS_DELETED:
                payload["outcome"] = p.DELETED
            elif code == ROW_LOCKED and int(payload.get("attempt", 0)) < LOCK_RETRIES:
                payload["attempt"] = int(payload.get("attempt", 0)) + 1
                outcome.relocking.append(item)
            elif code == ROW_LOCKED:
                payload["outcome"] = p.LOCKED
            else:
                payload["outcome"] = p.FAILED
                outcome.failures.append(
                    FailedRecord(
                        OBJECT_TYPE,
                        item.sf_id,
                        item.sobject,
                        p.WRITE,
                        code,
                        f"Salesforce refused the write-back: {message}",
                    )
                )
        outcome.payloads[item.staged_id] = payload
    return outcome


def _store(database_url: str, claimed: Claim, items: list[_Item], skipped: list[int], calls: int) -> ChunkResult:
    outcome = _judge(items)
    now = utcnow()
    with session_scope(database_url) as session:
        chunk = session.get(Chunk, claimed.chunk_id, with_for_update=True)
        if chunk is None or chunk.holder != claimed.holder:
            raise LeaseLost(f"chunk {claimed.chunk_id} was taken over before its results were stored")
        states = load_states(session, (item.sf_id for item in items))
        written = {item.staged_id for item in outcome.written}
        for item in items:
            state = states[item.sf_id]
            kind = outcome.payloads[item.staged_id].get("outcome")
            if item.target and item.target != item.sf_id:
                state.written_to = item.target  # a converted Lead: its Contact from now on, whatever came of it
            if item.staged_id in written:
                state.values = {**(state.values or {}), **item.fields}
                state.values_hash = fingerprint(state.values)
                state.pending, state.last_written_at = None, now
                set_status(state, OK)
            elif kind == p.DELETED:
                state.pending, state.dirty = None, False
                set_status(state, DELETED)
            elif kind == p.LOCKED:
                set_status(state, LOCKED)  # its values stay pending: the next pass writes them first
            elif kind == p.FAILED:
                state.pending = None  # the next read finds the difference again and tries again
                set_status(state, FAILED)
        for staged_id in skipped:
            outcome.payloads[staged_id] = {"outcome": p.SKIPPED}
        _save_payloads(session, outcome.payloads)
        resolve_failures(session, OBJECT_TYPE, [item.sf_id for item in outcome.written])
        record_failures(session, claimed.run_id, outcome.failures)
        if outcome.converting:
            p.move_to_new_chunk(session, claimed.run_id, [item.staged_id for item in outcome.converting])
        if outcome.relocking:
            attempt = max(int(outcome.payloads[i.staged_id]["attempt"]) for i in outcome.relocking)
            due = now + timedelta(seconds=LOCK_RETRY_SECONDS * 2 ** (attempt - 1))
            p.move_to_new_chunk(session, claimed.run_id, [item.staged_id for item in outcome.relocking], due_at=due)
        chunk.succeeded, chunk.failed, chunk.calls = len(outcome.written), len(outcome.failures), calls
        p.end_chunk(session, chunk)
        log.info(
            "write-back chunk %s: %s written, %s failed, %s to a converted Lead's Contact, %s locked, %s calls",
            claimed.chunk_id,
            len(outcome.written),
            len(outcome.failures),
            len(outcome.converting),
            len(outcome.relocking),
            calls,
        )
        return ChunkResult(claimed.chunk_id, chunk.status, len(outcome.written), len(outcome.failures), calls)


def _save_payloads(session: Session, payloads: dict[int, dict[str, Any]]) -> None:
    if payloads:
        table = cast(Table, StagedRecord.__table__)
        statement = update(table).where(table.c.id == bindparam("staged_id")).values(payload=bindparam("new_payload"))
        session.connection().execute(
            statement, [{"staged_id": staged_id, "new_payload": payload} for staged_id, payload in payloads.items()]
        )


def fail_write_chunk(database_url: str, claimed: Claim, code: str, message: str) -> ChunkResult:
    """End a write chunk whose call was refused as a whole: its people go to the failures table."""
    with session_scope(database_url) as session:
        chunk = session.get(Chunk, claimed.chunk_id, with_for_update=True)
        if chunk is None or chunk.holder not in (claimed.holder, None):
            raise LeaseLost(f"chunk {claimed.chunk_id} is no longer ours")
        rows = list(session.scalars(select(StagedRecord).where(StagedRecord.chunk_id == claimed.chunk_id)))
        record_failures(
            session,
            claimed.run_id,
            [FailedRecord(OBJECT_TYPE, row.sf_id, row.sobject, p.WRITE, code, message) for row in rows],
        )
        _save_payloads(session, {row.id: {**(row.payload or {}), "outcome": p.FAILED} for row in rows})
        states = load_states(session, (row.sf_id for row in rows))
        for state in states.values():
            state.pending = None
            set_status(state, FAILED)
        chunk.failed = len(rows)
        p.end_chunk(session, chunk, failed=True, error=f"{code}: {message}")
        return ChunkResult(claimed.chunk_id, chunk.status, 0, len(rows))
