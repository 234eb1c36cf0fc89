"""Staging decides what goes to Marketo: changed records only, conversions as one person, chunks of 300."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import func, insert, select

from models.db import migrate, session_scope
from models.records import Failure, IdMap
from models.runs import Chunk, StagedRecord
from pipeline import objects as o
from pipeline.mapping import MappingConfig
from pipeline.progress import start_run
from pipeline.staging import PageStager, _id_map_rows, form_chunks, load_id_map
from tests.pipeline.records import account, contact, lead, sf_id, user

CONFIG = MappingConfig.load(None)


def new_run(db: str) -> int:
    with session_scope(db) as session:
        return start_run(
            session, object_types=list(o.OBJECT_TYPES), full=False, trigger="test", overlap=timedelta(0)
        ).id


def staged(db: str, run_id: int) -> list[StagedRecord]:
    with session_scope(db) as session:
        return list(session.scalars(select(StagedRecord).where(StagedRecord.run_id == run_id)))


def test_unchanged_records_are_not_staged_again(db: str) -> None:
    owner = user()
    run_id = new_run(db)
    with session_scope(db) as session:
        result = PageStager(session, run_id, CONFIG, False).stage(o.USER, [owner])
    assert (result.staged, result.unchanged) == (1, 0)
    row = staged(db, run_id)[0]
    with session_scope(db) as session:  # as if Marketo accepted it
        session.add(IdMap(object_type=o.SALESPERSONS, sf_id=owner["Id"], marketo_id="7", fingerprint=row.fingerprint))
    second = new_run_after(db, run_id)
    bumped = owner | {"SystemModstamp": "2026-02-01T00:00:00.000+0000"}  # a system bump, same values
    with session_scope(db) as session:
        result = PageStager(session, second, CONFIG, False).stage(o.USER, [bumped])
    assert (result.staged, result.unchanged) == (0, 1)
    with session_scope(db) as session:
        result = PageStager(session, second, CONFIG, False).stage(o.USER, [bumped | {"Title": "CEO"}])
    assert result.staged == 1


def new_run_after(db: str, run_id: int) -> int:
    from models.runs import SyncRun

    with session_scope(db) as session:
        session.get(SyncRun, run_id).status = "succeeded"  # type: ignore[union-attr]
    return new_run(db)


def test_a_converted_lead_hands_its_marketo_record_to_its_contact(db: str) -> None:
    owner = user()
    converted_to = contact(owner["Id"], None)
    old = lead(owner["Id"], IsConverted=True, ConvertedContactId=converted_to["Id"])
    with session_scope(db) as session:
        session.add(IdMap(object_type=o.LEADS, sf_id=old["Id"], marketo_id="42", fingerprint="x"))
    run_id = new_run(db)
    with session_scope(db) as session:
        stager = PageStager(session, run_id, CONFIG, False)
        assert stager.stage(o.LEAD, [old]).staged == 0
        assert stager.stage(o.CONTACT, [converted_to]).staged == 1
    row = staged(db, run_id)[0]
    assert (row.sf_id, row.lookup) == (converted_to["Id"], o.BY_MARKETO_ID)
    with session_scope(db) as session:
        taken = session.scalars(select(IdMap).where(IdMap.sf_id == converted_to["Id"])).one()
        assert (taken.marketo_id, taken.relink) == ("42", True)


def test_a_late_conversion_merges_two_marketo_leads(db: str) -> None:
    owner = user()
    converted_to = contact(owner["Id"], None)
    old = lead(owner["Id"], IsConverted=True, ConvertedContactId=converted_to["Id"])
    with session_scope(db) as session:
        session.add(IdMap(object_type=o.LEADS, sf_id=old["Id"], marketo_id="42", fingerprint="x"))
        session.add(IdMap(object_type=o.LEADS, sf_id=converted_to["Id"], marketo_id="43", fingerprint="y"))
    run_id = new_run(db)
    with session_scope(db) as session:
        PageStager(session, run_id, CONFIG, False).stage(o.LEAD, [old])
    (row,) = staged(db, run_id)
    assert (row.step, row.payload) == ("leads:merge", {"loser": old["Id"], "winner": converted_to["Id"]})


def test_deleted_people_are_kept_or_deleted_as_configured(db: str) -> None:
    owner = user()
    gone = lead(owner["Id"], IsDeleted=True)
    with session_scope(db) as session:
        session.add(IdMap(object_type=o.LEADS, sf_id=gone["Id"], marketo_id="9", fingerprint="x"))
    run_id = new_run(db)
    with session_scope(db) as session:
        assert PageStager(session, run_id, CONFIG, delete_people=False).stage(o.LEAD, [gone]).staged == 0
        assert session.scalars(select(IdMap.deleted_at).where(IdMap.sf_id == gone["Id"])).one() is not None
    with session_scope(db) as session:
        session.execute(IdMap.__table__.update().values(deleted_at=None))
    with session_scope(db) as session:
        assert PageStager(session, run_id, CONFIG, delete_people=True).stage(o.LEAD, [gone]).staged == 1
    assert staged(db, run_id)[0].payload == {"id": "9"}


def test_bad_records_go_to_failures_and_bad_values_to_warnings(db: str) -> None:
    owner = user(Email="jürgen@exämple.de")
    broken = account(owner["Id"], OwnerId="not-an-id")
    run_id = new_run(db)
    with session_scope(db) as session:
        stager = PageStager(session, run_id, CONFIG, False)
        assert stager.stage(o.USER, [owner]).staged == 1
        assert stager.stage(o.ACCOUNT, [broken]).invalid == 1
    with session_scope(db) as session:
        rows = {(f.sf_id, f.kind, f.code) for f in session.scalars(select(Failure))}
    assert rows == {(owner["Id"], "warning", "INVALID_EMAIL"), (broken["Id"], "error", "INVALID_ID")}
    assert staged(db, run_id)[0].payload["email"] is None


def test_queue_owned_records_link_to_no_sales_person(db: str) -> None:
    queued = lead("00G000000000001AAA")
    run_id = new_run(db)
    with session_scope(db) as session:
        PageStager(session, run_id, CONFIG, False).stage(o.LEAD, [queued])
    assert staged(db, run_id)[0].payload["externalSalesPersonId"] is None


def test_chunks_are_full_until_the_last(db: str) -> None:
    owner = user()
    people = [lead(owner["Id"]) for _ in range(650)]
    run_id = new_run(db)
    with session_scope(db) as session:
        PageStager(session, run_id, CONFIG, False).stage(o.LEAD, people)
        assert len(form_chunks(session, run_id, "leads:upsert", o.BY_EXTERNAL_ID, final=False)) == 2
        assert form_chunks(session, run_id, "leads:upsert", o.BY_EXTERNAL_ID, final=False) == []
        assert len(form_chunks(session, run_id, "leads:upsert", o.BY_EXTERNAL_ID, final=True)) == 1
        sizes = sorted(session.scalars(select(Chunk.size)))
        unchunked = session.scalar(
            select(func.count()).select_from(StagedRecord).where(StagedRecord.chunk_id.is_(None))
        )
    assert (sizes, unchunked) == ([50, 300, 300], 0)


def test_pages_staged_at_once_never_take_each_others_chunk_records(postgres_url: str) -> None:
    """Leads and Contacts pages commit at once on a first sync: each record joins one chunk only."""
    migrate(postgres_url)
    owner = user()
    run_id = new_run(postgres_url)
    with session_scope(postgres_url) as session:  # a committed remainder, short of a chunk
        PageStager(session, run_id, CONFIG, False).stage(o.LEAD, [lead(owner["Id"]) for _ in range(200)])

    def contacts_page() -> None:
        with session_scope(postgres_url) as other:
            PageStager(other, run_id, CONFIG, False).stage(o.CONTACT, [contact(owner["Id"], None) for _ in range(150)])
            form_chunks(other, run_id, "leads:upsert", o.BY_EXTERNAL_ID, final=False)

    with session_scope(postgres_url) as session:  # a Leads page, not committed yet
        PageStager(session, run_id, CONFIG, False).stage(o.LEAD, [lead(owner["Id"]) for _ in range(150)])
        assert len(form_chunks(session, run_id, "leads:upsert", o.BY_EXTERNAL_ID, final=False)) == 1
        other_page = threading.Thread(target=contacts_page)
        other_page.start()
        other_page.join(timeout=1)  # it waits for this page's records, or passes them by
    other_page.join(timeout=30)
    with session_scope(postgres_url) as session:
        form_chunks(session, run_id, "leads:upsert", o.BY_EXTERNAL_ID, final=True)
        formed = {chunk.id: chunk.size for chunk in session.scalars(select(Chunk))}
        counts = session.execute(select(StagedRecord.chunk_id, func.count()).group_by(StagedRecord.chunk_id))
        held = {chunk_id: count for chunk_id, count in counts}
    assert held == formed  # each chunk holds the records it was formed with: no call goes out short
    assert sorted(formed.values()) == [200, 300]


def test_id_map_lookups_probe_the_unique_index_before_any_statistics(postgres_url: str) -> None:
    """A first full sync fills the id map from empty: no lookup may scan a whole object type."""
    migrate(postgres_url)
    people = [sf_id("00Q") for _ in range(5000)]
    with session_scope(postgres_url) as session:
        session.execute(
            insert(IdMap),
            [
                {"object_type": o.LEADS, "sf_id": p, "sobject": o.LEAD, "marketo_id": str(n)}
                for n, p in enumerate(people)
            ],
        )
    wanted = people[::10]
    with session_scope(postgres_url) as session:
        statement = _id_map_rows(session, o.LEADS, wanted).compile(session.get_bind())
        plan = "\n".join(session.connection().exec_driver_sql("EXPLAIN " + str(statement), statement.params).scalars())
        found = load_id_map(session, o.LEADS, [*wanted, sf_id("00Q")])
    assert "uq_id_map_object_type" in plan and "Seq Scan" not in plan and "ix_id_map_marketo" not in plan
    assert sorted(found) == sorted(wanted)
