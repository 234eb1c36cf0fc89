"""A write-back pass end to end: simulators, Redis, PostgreSQL and real worker processes (a sync one, a write-back one).

What Salesforce received is read from the Salesforce simulator's records and request log, what
was asked of Marketo from the Marketo simulator's log; never from the service's own bookkeeping.
"""

from __future__ import annotations

import json
import math
from typing import Any

from click.testing import CliRunner
from sqlalchemy import select, update

from cli.writeback import writeback_command
from models.db import session_scope
from models.operations import Connection
from models.records import IdMap
from tests.writeback.conftest import MSI_FIELDS, differing, marketo_lead, run_pass

WRITES = ("sync", "delete", "merge")


def live_people(stack: Any) -> list[str]:
    with session_scope(stack.database_url) as session:
        return list(
            session.scalars(
                select(IdMap.sf_id).where(
                    IdMap.object_type == "leads",
                    IdMap.marketo_id.is_not(None),
                    IdMap.deleted_at.is_(None),
                    IdMap.merged_into.is_(None),
                )
            )
        )


def msi_snapshot(stack: Any, people: list[str]) -> dict[str, tuple[Any, ...]]:
    return {sf_id: tuple(marketo_lead(stack, sf_id).get(f) for f in MSI_FIELDS) for sf_id in people}


def salesforce_writes(stack: Any, since: int) -> list[Any]:
    return [e for e in stack.salesforce.log.since(since) if e.operation == "composite_update"]


def test_changed_scores_arrive_unchanged_cost_nothing_and_the_echo_sends_nothing_to_marketo(wb_stack: Any) -> None:
    stack = wb_stack(size=600, seed=41)
    stack.start_worker("sync", "marketo")
    stack.start_worker("writeback", name="wb")
    assert stack.sync().status == "succeeded"
    people = live_people(stack)
    # Four MSI epochs: interesting moments and score changes (with activities) and one nightly
    # recompute of urgency and relative score (without any).
    stack.marketo.store.advance_msi(4)
    before = msi_snapshot(stack, people)
    with_values = [p for p in people if any(v is not None for v in before[p])]
    assert len(with_values) > 200  # more than one write call's worth

    mark = stack.salesforce.log.last_seq
    first = run_pass(stack)
    assert first.status == "succeeded", first.error
    assert differing(stack, people) == []
    writes = salesforce_writes(stack, mark)
    assert sum(e.records for e in writes) == len(with_values)
    assert len(writes) == math.ceil(len(with_values) / 200)
    assert all(e.detail == {"auto_assign": False, "allOrNone": False} for e in writes)
    assert all(e.record_codes == {"OK": e.records} for e in writes)

    # Nothing moved in Marketo: the second pass (started as an operator would) reads, and writes nothing at all.
    mark = stack.salesforce.log.last_seq
    answer = CliRunner().invoke(writeback_command, ["--wait", "--json", "--timeout", "120"])
    assert answer.exit_code == 0, answer.output
    second = json.loads(answer.stdout)
    assert second["status"] == "succeeded", second
    assert salesforce_writes(stack, mark) == []
    assert second["writeback"]["read"] == len(people)
    assert second["writeback"]["salesforce_write_calls"] == 0

    # One more epoch: only the people whose values moved are written.
    stack.marketo.store.advance_msi(1)
    after = msi_snapshot(stack, people)
    moved = [p for p in people if after[p] != before[p]]
    assert moved
    mark = stack.salesforce.log.last_seq
    third = run_pass(stack)
    assert third.status == "succeeded", third.error
    writes = salesforce_writes(stack, mark)
    assert sum(e.records for e in writes) == len(moved)
    assert len(writes) == math.ceil(len(moved) / 200)
    assert differing(stack, people) == []

    # The write-back's own updates moved SystemModstamp: the next cycle reads those records
    # again, finds their mapped values unchanged, and sends Marketo nothing.
    marketo_mark = stack.marketo.log.last_seq
    cycle = stack.sync()
    assert cycle.status == "succeeded", cycle.error
    assert cycle.summary["leads"]["extracted"] >= len(moved)
    assert cycle.summary["leads"]["staged"] == 0
    assert [e for e in stack.marketo.log.since(marketo_mark) if e.operation in WRITES] == []


def test_no_pass_writes_into_an_org_other_than_the_connected_one(wb_stack: Any) -> None:
    from tasks.writeback import start_writeback

    stack = wb_stack(size=100, seed=42)
    stack.start_worker("sync", "marketo")
    stack.start_worker("writeback", name="wb")
    assert stack.sync().status == "succeeded"
    stack.marketo.store.advance_msi(1)
    with session_scope(stack.database_url) as session:  # the credentials now reach another org
        session.execute(update(Connection).values(org_id="00D000000000002EAA"))
    mark = stack.salesforce.log.last_seq
    answer = start_writeback.apply_async(kwargs={"trigger": "test"}).get(timeout=60)
    assert answer["status"] == "refused"
    assert "00D000000000002EAA" in answer["message"]
    assert [e.operation for e in stack.salesforce.log.since(mark)] == ["token"]
