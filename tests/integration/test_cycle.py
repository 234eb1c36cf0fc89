"""The pipeline's invariants, on real Redis, PostgreSQL, worker processes and both simulators.

Each test checks what Marketo received from the Marketo simulator's own state and request
log, never from the service's bookkeeping.
"""

from __future__ import annotations

import math
from typing import Any

import redis
from sqlalchemy import select

from models.db import session_scope
from models.records import Failure, Watermark
from pipeline.mapping import parse_sf_datetime
from simulators.common.faults import FaultPlan
from tests.integration.conftest import SHORT_VISIBILITY
from tests.integration.oracle import actual_state, differences, expected_state

# Marketo operations that write.
WRITES = ("sync", "delete", "merge")
STAGE_OF = {"salespersons": 1, "companies": 2, "leads": 3, "opportunities": 3, "roles": 4}


def marketo_writes(stack: Any, since: int = 0) -> list[Any]:
    return [e for e in stack.marketo.log.since(since) if e.operation in WRITES]


def assert_marketo_matches_salesforce(stack: Any, kept_people: set[str] | None = None) -> None:
    expected = expected_state(stack.salesforce.org, kept_people=kept_people or set())
    actual, duplicates = actual_state(stack.marketo.store)
    assert duplicates == []
    assert differences(expected, actual) == []


def test_full_sync_leaves_exactly_the_expected_state_in_marketo(stack_factory: Any) -> None:
    stack = stack_factory(size=600, seed=21)
    stack.start_worker()
    run = stack.sync()
    assert run.status == "succeeded", run.error
    assert_marketo_matches_salesforce(stack)
    # Minimum Marketo calls: ceil(n / 300) per object type written.
    writes = marketo_writes(stack)
    for obj in ("salespersons", "companies", "leads", "opportunities", "roles"):
        records = sum(e.records for e in writes if e.obj == obj)
        calls = sum(1 for e in writes if e.obj == obj)
        assert calls == math.ceil(records / 300), (obj, records, calls)
    assert not [e for e in stack.marketo.log.all() if e.error_code in ("606", "615")]


def test_no_stage_writes_before_the_stages_it_needs_have_ended(stack_factory: Any) -> None:
    stack = stack_factory(size=900, seed=22, marketo_args={"latency_per_call": 0.05, "latency_per_record": 0.0005})
    stack.start_worker(concurrency=8)
    assert stack.sync().status == "succeeded"
    writes = [e for e in marketo_writes(stack) if e.operation == "sync"]
    assert {e.obj for e in writes} == set(STAGE_OF)
    for earlier in STAGE_OF:
        for later in STAGE_OF:
            if STAGE_OF[earlier] < STAGE_OF[later]:
                last_end = max(e.ended for e in writes if e.obj == earlier)
                first_start = min(e.started for e in writes if e.obj == later)
                assert last_end <= first_start, f"{later} started before {earlier} ended"


def test_running_a_cycle_or_a_chunk_again_changes_nothing(stack_factory: Any) -> None:
    # Marketo applies every other write and then answers 604: the chunk runs again, writing
    # the same records a second time, exactly as a redelivered message would.
    faults = FaultPlan.from_dict({"bursts": {"applied_604": {"every": 2, "length": 1}}})
    stack = stack_factory(size=500, seed=23, marketo_args={"faults": faults}, extra_env=SHORT_VISIBILITY)
    stack.start_worker()
    run = stack.sync()
    assert run.status == "succeeded", run.error
    codes = [(e.operation, e.error_code) for e in stack.marketo.log.all()]
    assert [e for e in stack.marketo.log.all() if e.error_code == "604"], f"the fault never fired: {codes}"
    assert_marketo_matches_salesforce(stack)
    counts = stack.marketo.store.counts()

    # A whole cycle again, reading everything: Marketo is told nothing new.
    stack.marketo.faults = FaultPlan()
    mark = stack.marketo.log.last_seq
    again = stack.sync(full=True)
    assert again.status == "succeeded"
    assert marketo_writes(stack, mark) == []
    assert again.summary["leads"]["unchanged"] == again.summary["leads"]["extracted"]
    assert stack.marketo.store.counts() == counts


def test_an_incremental_cycle_sends_what_changed_not_the_org(stack_factory: Any) -> None:
    stack = stack_factory(size=3000, seed=24)
    stack.start_worker()
    assert stack.sync().status == "succeeded"
    synced_people = set(actual_state(stack.marketo.store)[0]["leads"])
    changes = stack.salesforce.org.mutate(99, 40)
    touched = {c.get("id") or c.get("record") for c in changes}
    mark = stack.marketo.log.last_seq
    sf_mark = stack.salesforce.log.last_seq
    run = stack.sync()
    assert run.status == "succeeded", run.error
    sent = sum(e.records for e in marketo_writes(stack, mark))
    # Each change touches a few records at most (a conversion: lead, contact, account, opportunity).
    assert 0 < sent <= 4 * len(changes), (sent, len(changes), touched)
    # Salesforce: one query per object (pages of 2,000 at most), not the org again.
    queries = [e for e in stack.salesforce.log.since(sf_mark) if e.operation.startswith("query")]
    assert len(queries) <= 6 + 2
    assert_marketo_matches_salesforce(stack, kept_people=synced_people)


def test_watermarks_only_cover_records_that_are_safe(stack_factory: Any) -> None:
    stack = stack_factory(size=800, seed=25, bad_input=True)
    stack.start_worker()
    run = stack.sync()
    assert run.status == "succeeded", run.error
    with session_scope(stack.database_url) as session:
        marks = {w.sobject: w.value for w in session.scalars(select(Watermark))}
        failed = {
            (f.object_type, f.sf_id)
            for f in session.scalars(select(Failure).where(Failure.kind == "error", Failure.status == "open"))
        }
    actual, _ = actual_state(stack.marketo.store)
    kinds = {"Account": "companies", "Lead": "leads", "Contact": "leads", "Opportunity": "opportunities"}
    for sobject, kind in kinds.items():
        assert sobject in marks
        for record in stack.salesforce.org.records(sobject, include_deleted=False):
            if parse_sf_datetime(record["SystemModstamp"]) > marks[sobject]:  # type: ignore[operator]
                continue
            if sobject == "Lead" and record["IsConverted"]:
                continue
            from clients.sfids import to_18

            sf_id = to_18(record["Id"])
            assert sf_id in actual[kind] or (kind, sf_id) in failed, (
                f"{sobject} {sf_id} is neither in Marketo nor failed"
            )
    # And the counts add up: every extracted record is unchanged, invalid, or was sent or failed.
    for kind, counts in run.summary.items():
        assert counts["extracted"] == counts["unchanged"] + counts["invalid"] + counts["staged"], kind
        assert counts["staged"] + counts["retried"] + counts["followups"] == counts["sent"] + counts["failed"], kind


def test_a_lost_chunk_is_found_by_the_sweeper(stack_factory: Any) -> None:
    stack = stack_factory(size=400, seed=26)
    stack.start_worker("sync")  # no one serves the marketo queue yet: chunks wait in Redis
    answer = stack.start_cycle()
    run_id = int(answer["run"])
    broker = redis.Redis.from_url(stack.env["REDIS_URL"])
    import time

    deadline = time.monotonic() + 60
    while not broker.llen("marketo") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert broker.llen("marketo") > 0
    broker.delete("marketo")  # the messages are gone, as when Redis restarts empty
    stack.start_worker("marketo")
    run = stack.wait_for_run(run_id, timeout=120, sweep_every=2)
    assert run.status == "succeeded", run.error
    assert_marketo_matches_salesforce(stack)
