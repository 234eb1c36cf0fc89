"""Whom a pass reads, how it cuts them into calls, and that its writes go one at a time; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from models.base import utcnow
from models.db import migrate, session_scope
from models.operations import WritebackState
from models.records import IdMap
from models.runs import Chunk, StagedRecord
from pipeline.progress import RunAlreadyRunning
from pipeline.writeback import passes
from pipeline.writeback.people import Person, choose, flag_changed
from tests.pipeline.records import sf_id


@pytest.fixture
def db(database_url: str) -> str:
    migrate(database_url)
    return database_url


def person(session: object, prefix: str = "003", **fields: object) -> str:
    new = sf_id(prefix)
    row = IdMap(
        object_type="leads",
        sf_id=new,
        sobject="Contact" if prefix == "003" else "Lead",
        marketo_id=str(abs(hash(new)) % 10**9),
        **fields,
    )
    session.add(row)  # type: ignore[attr-defined]
    return new


def test_flagged_first_then_never_read_then_the_oldest_read(db: str) -> None:
    now = utcnow()
    with session_scope(db) as session:
        old, older, fresh, never, flagged = (person(session) for _ in range(5))
        gone = person(session, deleted_at=now)
        lead = person(session, "00Q")
        contact = person(session, relink=True)
        session.flush()
        session.execute(select(IdMap).where(IdMap.sf_id == lead)).scalar_one().merged_into = contact
        for sf, read in ((old, 3), (older, 5), (fresh, 1), (flagged, 1), (contact, 4)):
            session.add(WritebackState(sf_id=sf, sobject="Contact", last_read_at=now - timedelta(hours=read)))
    with session_scope(db) as session:
        marketo_id = session.scalars(select(IdMap.marketo_id).where(IdMap.sf_id == flagged)).one()
        assert flag_changed(session, [marketo_id]) == 1
    with session_scope(db) as session:
        people, flagged_count = choose(session, flagged=10, total=4)
    assert [p.sf_id for p in people] == [flagged, never, older, contact]
    assert flagged_count == 1
    # The Contact's Marketo lead may still carry its converted Lead's id: both are asked for.
    assert people[-1].aliases == (lead,)
    with session_scope(db) as session:
        everyone, _ = choose(session, flagged=0, total=100)
    assert gone not in {p.sf_id for p in everyone} and lead not in {p.sf_id for p in everyone}
    assert len(everyone) == 6


def test_a_deleted_person_stays_out_until_the_sync_sends_it_again(db: str) -> None:
    now = utcnow()
    with session_scope(db) as session:
        binned = person(session, sent_at=now - timedelta(days=1))
        session.add(WritebackState(sf_id=binned, sobject="Contact", status="deleted", status_at=now))
    with session_scope(db) as session:
        assert choose(session, flagged=0, total=10)[0] == []
        session.execute(select(IdMap).where(IdMap.sf_id == binned)).scalar_one().sent_at = now + timedelta(minutes=1)
    with session_scope(db) as session:
        assert [p.sf_id for p in choose(session, flagged=0, total=10)[0]] == [binned]


def test_reads_hold_300_filter_values_and_writes_go_one_at_a_time(db: str) -> None:
    with session_scope(db) as session:
        run_id, _ = passes.start_pass(session, "test")
    with pytest.raises(RunAlreadyRunning), session_scope(db) as session:
        passes.start_pass(session, "test")
    people = [Person(sf_id("003"), "Contact", str(n), ("00Qx",) if n % 100 == 0 else ()) for n in range(650)]
    with session_scope(db) as session:
        assert passes.plan_reads(session, run_id, people) == 3
        sizes = [c.size for c in session.scalars(select(Chunk).where(Chunk.step == passes.READ).order_by(Chunk.id))]
    assert sum(sizes) == 650 and sizes[0] < 300  # aliases take filter values too
    with session_scope(db) as session:
        passes.stage_writes(session, run_id, [(p.sf_id, p.sobject) for p in people[:450]])
        passes.stage_writes(session, run_id, [(people[0].sf_id, "Contact")])  # staged once only
        assert passes.form_write_chunks(session, run_id, final=False) == 2
        assert passes.form_write_chunks(session, run_id, final=True) == 1
        assert session.query(StagedRecord).filter_by(step=passes.WRITE).count() == 450
    with session_scope(db) as session:
        first = passes.claim_next_write(session, run_id)
    with session_scope(db) as session:
        assert passes.claim_next_write(session, run_id) is None  # one is queued: the rest wait
        assert first is not None
        session.get(Chunk, first[0]).status = "done"  # type: ignore[union-attr]
    with session_scope(db) as session:
        second = passes.claim_next_write(session, run_id)
    assert second is not None and second[0] != first[0]
