"""One read chunk: the people's MSI fields from Marketo by externalPersonId; keep what changed since the last write."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.base import utcnow
from models.db import session_scope
from models.runs import Chunk, StagedRecord
from pipeline.sending import ChunkResult, Claim, LeaseLost, renew
from pipeline.writeback.convert import Unconvertible, changes, to_salesforce
from pipeline.writeback.fields import FieldSpec
from pipeline.writeback.mapping import WritebackMapping
from pipeline.writeback.passes import FILTER_VALUES_PER_READ, end_chunk, form_write_chunks, stage_writes
from pipeline.writeback.people import OK, PENDING, load_states, set_status, state_for

log = logging.getLogger(__name__)


class LeadReader(Protocol):
    def get(
        self, obj: str, filter_type: str, filter_values: Sequence[Any], *, fields: Sequence[str] | None = None
    ) -> Iterator[dict[str, Any]]: ...


def read_chunk(
    database_url: str,
    claimed: Claim,
    marketo: LeadReader,
    mapping: WritebackMapping,
    specs: dict[str, FieldSpec],
    lease: timedelta,
) -> ChunkResult:
    """Read the chunk's people (one Get Leads call for up to 300 values) and store what is to be written."""
    with session_scope(database_url) as session:
        rows = [
            (r.sf_id, r.sobject, dict(r.payload))
            for r in session.scalars(
                select(StagedRecord).where(StagedRecord.chunk_id == claimed.chunk_id).order_by(StagedRecord.id)
            )
        ]
    owner: dict[str, str] = {}
    expected = {sf_id: str(payload.get("marketo_id")) for sf_id, _, payload in rows}
    for sf_id, _, payload in rows:
        owner[sf_id] = sf_id
        for alias in payload.get("aliases") or ():
            owner[alias] = sf_id
    renew(database_url, claimed, lease)
    fields = [*mapping.marketo_fields, "externalPersonId"]
    found: dict[str, dict[str, Any]] = {}
    for lead in marketo.get("leads", "externalPersonId", list(owner), fields=fields):
        person = owner.get(str(lead.get("externalPersonId")))
        if person is None:
            continue
        # Duplicates in Marketo: the lead the sync wrote wins over any other that claims the person.
        if person not in found or str(lead.get("id")) == expected[person]:
            found[person] = lead
    calls = math.ceil(len(owner) / FILTER_VALUES_PER_READ)
    return _store(database_url, claimed, rows, found, mapping, specs, calls)


def salesforce_values(lead: dict[str, Any], mapping: WritebackMapping, specs: dict[str, FieldSpec]) -> dict[str, Any]:
    """The lead's mapped values as the target fields take them; a value that does not fit is left out."""
    values: dict[str, Any] = {}
    for marketo_field, salesforce_field in mapping.fields:
        try:
            values[salesforce_field] = to_salesforce(specs[salesforce_field], lead.get(marketo_field))
        except Unconvertible as error:
            log.warning("lead %s: %s cannot go to %s: %s", lead.get("id"), marketo_field, salesforce_field, error)
    return values


def _store(
    database_url: str,
    claimed: Claim,
    rows: list[tuple[str, str, dict[str, Any]]],
    found: dict[str, dict[str, Any]],
    mapping: WritebackMapping,
    specs: dict[str, FieldSpec],
    calls: int,
) -> ChunkResult:
    now = utcnow()
    with session_scope(database_url) as session:
        chunk = _held(session, claimed)
        states = load_states(session, (sf_id for sf_id, _, _ in rows))
        to_write: list[tuple[str, str]] = []
        for sf_id, sobject, payload in rows:
            state = state_for(session, states, sf_id, sobject)
            state.last_read_at, state.dirty = now, False
            lead = found.get(sf_id)
            if lead is None:
                continue  # not in Marketo under any of its ids (yet): nothing to write
            state.marketo_id = str(lead.get("id") or payload.get("marketo_id"))
            diff = changes(salesforce_values(lead, mapping, specs), state.values)
            if diff:
                state.pending = diff
                set_status(state, PENDING)
                to_write.append((sf_id, sobject))
            else:
                state.pending = None
                set_status(state, OK)
        session.flush()
        stage_writes(session, claimed.run_id, to_write)
        chunk.succeeded, chunk.failed, chunk.calls = len(found), len(rows) - len(found), calls
        end_chunk(session, chunk)
        form_write_chunks(session, claimed.run_id, final=False)
        return ChunkResult(
            claimed.chunk_id, chunk.status, len(found), len(rows) - len(found), calls, extra={"changed": len(to_write)}
        )


def _held(session: Session, claimed: Claim) -> Chunk:
    chunk = session.get(Chunk, claimed.chunk_id, with_for_update=True)
    if chunk is None or chunk.holder != claimed.holder:
        raise LeaseLost(f"chunk {claimed.chunk_id} was taken over before its results were stored")
    return chunk
