"""The status report, read from the database: runs per step and object type, and the backlog."""

from __future__ import annotations

from datetime import timedelta

from models.base import utcnow
from models.db import session_scope
from models.runs import CHUNK_DONE, CHUNK_READY, CHUNK_WAITING, RUN_SUCCEEDED, Chunk, SyncRun
from ops.status import status_report
from pipeline.failures import FailedRecord, record_failures
from pipeline.progress import start_run
from tests.pipeline.records import sf_id


def test_a_running_run_shows_live_counts_waiting_chunks_and_progress(db: str) -> None:
    due = utcnow() + timedelta(hours=5)
    with session_scope(db) as session:
        finished = SyncRun(
            kind="sync",
            status=RUN_SUCCEEDED,
            finished_at=utcnow(),
            summary={"leads": {"extracted": 50, "sent": 20, "unchanged": 28, "failed": 2}},
        )
        session.add(finished)
        run = start_run(
            session,
            object_types=["salespersons", "companies", "leads"],
            full=False,
            trigger="test",
            overlap=timedelta(0),
        )
        session.add_all(
            [
                Chunk(run_id=run.id, step="salespersons:upsert", status=CHUNK_DONE, size=10, succeeded=9, failed=1),
                Chunk(run_id=run.id, step="companies:upsert", status=CHUNK_WAITING, size=300, due_at=due),
                Chunk(run_id=run.id, step="companies:upsert", status=CHUNK_WAITING, size=120, due_at=due),
                Chunk(run_id=run.id, step="leads:upsert", status=CHUNK_READY, size=40),
            ]
        )
        record_failures(
            session,
            run.id,
            [FailedRecord("salespersons", sf_id("005"), "User", "salespersons:upsert", "1006", "bad field")],
        )
        run_id, finished_id = run.id, finished.id

    with session_scope(db) as session:
        report = status_report(session)

    latest, older = report["runs"]
    assert (latest["run"], latest["status"], older["run"]) == (run_id, "running", finished_id)
    assert latest["objects"]["salespersons"]["synced"] == 9 and latest["objects"]["salespersons"]["failed"] == 1
    assert older["objects"]["leads"] == {
        "extracted": 50,
        "synced": 20,
        "skipped": 28,
        "invalid": 0,
        "failed": 2,
        "warnings": 0,
        "retried": 0,
        "calls": 0,
    }
    steps = {step["step"]: step for step in latest["steps"]}
    assert steps["companies:upsert"]["chunks_waiting"] == 2 and steps["companies:upsert"]["records"] == 420
    backlog = report["backlog"]
    assert backlog["open_failures"] == 1 and backlog["open_by_object_type"] == {"salespersons": 1}
    assert backlog["open_by_code"] == [{"code": "1006", "count": 1}]
    assert backlog["waiting_chunks"] == [
        {"run": run_id, "step": "companies:upsert", "chunks": 2, "records": 420, "due_at": due.isoformat()}
    ]
    progress = {step["step"]: step for step in backlog["running"][0]["steps"]}
    assert set(progress) == {"salespersons:upsert", "companies:upsert", "leads:upsert"}
    assert progress["salespersons:upsert"]["chunks_ended"] == 1 and progress["leads:upsert"]["records"] == 40


def test_an_empty_database_reports_nothing_to_do(db: str) -> None:
    with session_scope(db) as session:
        report = status_report(session)
    assert report["connection"] is None and report["runs"] == []
    assert report["backlog"]["waiting_chunks"] == [] and report["backlog"]["open_failures"] == 0
