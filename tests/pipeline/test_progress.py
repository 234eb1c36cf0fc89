"""The step gates: nothing of a step is handed out before every step it needs has ended."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text, update

from models.db import migrate, session_scope
from models.records import Watermark
from models.runs import Chunk, RunExtract, RunStep, SyncRun
from pipeline import objects as o
from pipeline.mapping import MappingConfig
from pipeline.progress import RunAlreadyRunning, advance, claim_ready_chunks, start_run
from pipeline.staging import PageStager, form_chunks
from tests.pipeline.records import account, user

CONFIG = MappingConfig.load(None)


def test_a_second_run_is_refused_while_one_runs(db: str) -> None:
    with session_scope(db) as session:
        first = start_run(session, object_types=["leads"], full=False, trigger="test", overlap=timedelta(0)).id
    with pytest.raises(RunAlreadyRunning, match=f"run {first} is already running"), session_scope(db) as session:
        start_run(session, object_types=["leads"], full=False, trigger="test", overlap=timedelta(0))


def _finish_extract(db: str, run_id: int, sobject: str, modstamp: datetime | None = None) -> None:
    with session_scope(db) as session:
        session.execute(
            update(RunExtract)
            .where(RunExtract.run_id == run_id, RunExtract.sobject == sobject)
            .values(status="done", max_modstamp=modstamp)
        )


def _end_chunks(db: str, ids: list[int]) -> None:
    with session_scope(db) as session:
        session.execute(update(Chunk).where(Chunk.id.in_(ids)).values(status="done"))


def test_companies_wait_for_every_sales_person_chunk(db: str) -> None:
    owners = [user() for _ in range(301)]
    companies = [account(owners[0]["Id"]) for _ in range(5)]
    with session_scope(db) as session:
        run_id = start_run(
            session, object_types=["salespersons", "companies"], full=False, trigger="test", overlap=timedelta(0)
        ).id
        stager = PageStager(session, run_id, CONFIG, False)
        stager.stage(o.USER, owners)
        stager.stage(o.ACCOUNT, companies)
        form_chunks(session, run_id, "salespersons:upsert", o.BY_EXTERNAL_ID, final=False)
    _finish_extract(db, run_id, o.ACCOUNT)
    with session_scope(db) as session:
        advance(session, run_id)
        first_wave = claim_ready_chunks(session, run_id)
    assert list(first_wave) == ["salespersons:upsert"] and len(first_wave["salespersons:upsert"]) == 1

    stamp = datetime(2026, 3, 1, tzinfo=UTC)
    _finish_extract(db, run_id, o.USER, stamp)
    with session_scope(db) as session:
        advance(session, run_id)  # forms the last, partial sales person chunk
        second_wave = claim_ready_chunks(session, run_id)
    assert list(second_wave) == ["salespersons:upsert"]
    _end_chunks(db, first_wave["salespersons:upsert"])
    with session_scope(db) as session:
        advance(session, run_id)
        assert claim_ready_chunks(session, run_id) == {}  # one sales person chunk still running
    _end_chunks(db, second_wave["salespersons:upsert"])
    with session_scope(db) as session:
        advance(session, run_id)
        third_wave = claim_ready_chunks(session, run_id)
    assert list(third_wave) == ["companies:upsert"]

    _end_chunks(db, third_wave["companies:upsert"])
    with session_scope(db) as session:
        assert advance(session, run_id).finished
    with session_scope(db) as session:
        assert session.get(SyncRun, run_id).status == "succeeded"  # type: ignore[union-attr]
        assert session.get(Watermark, o.USER).value == stamp  # type: ignore[union-attr]
        assert session.get(Watermark, o.ACCOUNT) is None  # nothing read, nothing moves
        steps = {s.step: s.status for s in session.scalars(select(RunStep).where(RunStep.run_id == run_id))}
    assert set(steps.values()) == {"done"}


def test_advance_does_not_wait_for_a_page_being_staged(postgres_url: str) -> None:
    """A page's inserts hold KEY SHARE on the run row until they commit; the gate goes on meanwhile."""
    migrate(postgres_url)
    with session_scope(postgres_url) as session:
        run_id = start_run(session, object_types=["companies"], full=False, trigger="test", overlap=timedelta(0)).id
    with session_scope(postgres_url) as page:
        PageStager(page, run_id, CONFIG, False).stage(o.USER, [user()])  # not committed yet
        with session_scope(postgres_url) as gate:
            gate.execute(text("SET LOCAL lock_timeout = '2s'"))
            assert "salespersons:upsert" in advance(gate, run_id).opened
