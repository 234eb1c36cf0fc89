"""`msi-sync status` after a real sync, and while a spent budget holds chunks back (limiter on real Redis)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from click.testing import Result

from clients.shared import limiter_for
from models.base import utcnow
from models.db import migrate, session_scope
from models.runs import CHUNK_WAITING, Chunk
from pipeline.progress import start_run
from tests.cli.conftest import Synced, as_json
from worker import context

Run = Callable[..., Result]
STATUS_REDIS = "redis://127.0.0.1:6379/11"


def test_status_after_a_sync_reports_what_marketo_received(
    synced: Synced, use_env: Callable[[dict[str, str]], None], msi_sync: Run
) -> None:
    use_env(synced.env)
    report = as_json(msi_sync("status", "--json"))

    run = report["runs"][0]
    assert run["status"] == "succeeded" and run["trigger"] == "test"
    counts = synced.marketo.store.counts()
    for kind in ("salespersons", "companies", "leads", "opportunities", "roles"):
        assert run["objects"][kind]["synced"] == counts[kind], kind
    steps = {step["step"]: step for step in run["steps"]}
    assert steps["leads:upsert"]["synced"] == counts["leads"] and steps["leads:upsert"]["status"] == "done"
    assert report["connection"]["environment"] == "production" and report["connection"]["verified"] is False
    assert {b["name"] for b in report["budgets"]} >= {"Marketo daily quota", "Salesforce daily API"}

    text = msi_sync("status").stdout
    assert "Run 1 by object type" in text and "Run 1 by step (stage order)" in text
    assert "(unverified)" in text and "API budgets" in text


@pytest.fixture
def status_redis() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(STATUS_REDIS)
    yield client
    for key in client.scan_iter(match="msi:limiter*"):
        client.delete(key)
    client.close()


def test_a_spent_budget_is_shown_with_the_waiting_chunks_and_when_they_resume(
    tmp_path: Path,
    synced: Synced,
    status_redis: redis.Redis,
    use_env: Callable[[dict[str, str]], None],
    msi_sync: Run,
) -> None:
    url = f"sqlite:///{tmp_path}/db.sqlite"
    use_env({**synced.env, "DATABASE_URL": url, "REDIS_URL": STATUS_REDIS, "MARKETO_DAILY_QUOTA": "2"})
    migrate(url)
    limiter = limiter_for(context.settings())
    for _ in range(2):
        limiter.release_marketo(limiter.acquire_marketo())
    due = utcnow() + timedelta(hours=3)
    with session_scope(url) as session:
        run = start_run(session, object_types=["leads"], full=False, trigger="test", overlap=timedelta(0))
        session.add(Chunk(run_id=run.id, step="leads:upsert", status=CHUNK_WAITING, size=300, due_at=due))

    result = msi_sync("status")

    assert result.exit_code == 0, result.output
    assert "Marketo daily quota is used up: syncing waits and resumes by itself at" in result.stdout
    assert "(1 chunks waiting)" in result.stdout
    assert f"leads:upsert: 1 chunks (300 records) wait for a budget until {due:%Y-%m-%d %H:%M} UTC" in result.stdout
    budget = next(b for b in as_json(msi_sync("status", "--json"))["budgets"] if b["name"] == "Marketo daily quota")
    assert (budget["used"], budget["left"], budget["exhausted"]) == (2, 0, True)


def test_without_redis_the_report_still_comes_with_a_note(
    synced: Synced, use_env: Callable[[dict[str, str]], None], msi_sync: Run
) -> None:
    from tests.ops.receivers import free_port

    use_env({**synced.env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    report = as_json(msi_sync("status", "--json"))
    assert report["runs"][0]["status"] == "succeeded" and report["budgets"] == []
    assert report["notes"] == ["budgets unknown: Redis (REDIS_URL) did not answer (ConnectionError)"]
