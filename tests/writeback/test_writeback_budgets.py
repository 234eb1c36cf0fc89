"""The write-back's budgets hold across processes: its Salesforce share, the org's own allocation, its Marketo calls."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from clients.shared import limiter_for
from models.base import utcnow
from models.db import session_scope
from models.runs import Chunk
from tests.writeback.conftest import differing, marketo_lead, run_pass, set_msi, wait_for_pass
from tests.writeback.test_writeback_pass import live_people, salesforce_writes
from worker import context

LIMIT_EXCEEDED = "REQUEST_LIMIT_EXCEEDED"


def start_pass(stack: Any) -> int:
    from tasks.writeback import start_writeback

    answer = start_writeback.apply_async(kwargs={"trigger": "test"}).get(timeout=60)
    assert answer["status"] == "started", answer
    return int(answer["run"])


def parked(stack: Any, run_id: int) -> list[Chunk]:
    with session_scope(stack.database_url) as session:
        return list(session.scalars(select(Chunk).where(Chunk.run_id == run_id, Chunk.status == "waiting")))


def wait_until_parked(stack: Any, run_id: int) -> list[Chunk]:
    run = wait_for_pass(stack, run_id, 60, until=lambda _: bool(parked(stack, run_id)))
    assert run.status == "running", (run.status, run.error)
    return parked(stack, run_id)


def test_the_write_back_keeps_to_its_share_of_the_orgs_allocation_and_resumes_later(wb_stack: Any) -> None:
    stack = wb_stack(size=600, seed=45, extra_env={"WRITEBACK_SALESFORCE_SHARE": "0.05"})
    stack.start_worker("sync", "marketo")
    stack.start_worker("writeback", name="wb")
    assert stack.sync().status == "succeeded"
    people = live_people(stack)
    stack.marketo.store.advance_msi(4)  # more than 200 people to write: two write calls
    # The org's allocation is far below SALESFORCE_DAILY_API_LIMIT: 60 calls a day, of which the
    # write-back may take 5 % (3 calls), learnt from Sforce-Limit-Info.
    stack.salesforce.api_limit = 60
    mark = stack.salesforce.log.last_seq
    run_id = start_pass(stack)
    waiting = wait_until_parked(stack, run_id)
    assert [c.step for c in waiting] == ["writeback:write"]
    mine = stack.salesforce.log.since(mark)
    assert len(mine) - sum(1 for e in mine if e.operation == "token") == 3  # two describes, one write
    assert len(salesforce_writes(stack, mark)) == 1
    assert all(e.error_code != LIMIT_EXCEEDED for e in stack.salesforce.log.all())
    # What the write-back left is there for the sync.
    assert stack.sync().status == "succeeded"

    # A day later (the rolling window forgets, the parked chunk's time has come): the sweeper sends
    # it again and the pass ends with every value in Salesforce.
    limiter_for(context.settings()).reset()  # type: ignore[attr-defined]
    stack.salesforce.usage.reset()
    with session_scope(stack.database_url) as session:
        session.execute(update(Chunk).where(Chunk.run_id == run_id, Chunk.status == "waiting").values(due_at=utcnow()))
    from tasks.writeback import writeback_sweep

    assert writeback_sweep.apply_async().get(timeout=30)["chunks"] == 1
    run = wait_for_pass(stack, run_id)
    assert run.status == "succeeded", run.error
    assert differing(stack, people) == []
    assert all(e.error_code != LIMIT_EXCEEDED for e in stack.salesforce.log.all())


def test_sforce_limit_info_stops_the_write_back_before_salesforce_refuses(wb_stack: Any) -> None:
    # The write-back may use the whole allocation here: only the org's own limit can stop it.
    stack = wb_stack(size=300, seed=46, extra_env={"WRITEBACK_SALESFORCE_SHARE": "1.0"})
    stack.start_worker("sync", "marketo")
    stack.start_worker("writeback", name="wb")
    assert stack.sync().status == "succeeded"
    stack.marketo.store.advance_msi(2)
    # Other integrations have used the org's allocation up to two calls before its end.
    stack.salesforce.api_limit = stack.salesforce.usage.used + 2
    mark = stack.salesforce.log.last_seq
    run_id = start_pass(stack)
    wait_until_parked(stack, run_id)
    assert stack.salesforce.usage.used == stack.salesforce.api_limit
    assert [e.operation for e in stack.salesforce.log.since(mark) if e.operation != "token"] == ["describe"] * 2
    assert all(e.error_code != LIMIT_EXCEEDED for e in stack.salesforce.log.all())


def test_a_pass_spends_no_more_marketo_calls_than_its_budget_and_still_reaches_everyone(wb_stack: Any) -> None:
    stack = wb_stack(size=1000, seed=47, extra_env={"WRITEBACK_MARKETO_CALLS_PER_PASS": "2"})
    stack.start_worker("sync", "marketo")
    stack.start_worker("writeback", name="wb")
    assert stack.sync().status == "succeeded"
    people = live_people(stack)
    assert 300 < len(people) <= 600  # one pass reads 300 at most; two reach everyone

    def one_pass() -> Any:
        mark = stack.marketo.log.last_seq
        run = run_pass(stack)
        assert run.status == "succeeded", run.error
        calls = [e for e in stack.marketo.log.since(mark) if e.operation != "identity"]
        assert len(calls) <= 2, [e.operation for e in calls]
        return run

    assert one_pass().summary["writeback"]["read"] == 300
    assert one_pass().summary["writeback"]["read"] == 300  # the rest first (never read), then the oldest

    # One person's score moves with an activity, another's urgency silently (the nightly recompute).
    loud, quiet = people[0], people[-1]
    set_msi(stack, loud, priority=55)
    set_msi(stack, quiet, activity=False, relativeUrgency=3)
    third = one_pass()
    assert third.summary["writeback"]["planned_flagged"] == 1
    assert differing(stack, [loud]) == []
    passes = 1
    while differing(stack, [quiet]) and passes < 3:
        one_pass()
        passes += 1
    assert differing(stack, [quiet]) == [], f"not refreshed after {passes} passes"
    assert marketo_lead(stack, quiet)["relativeUrgency"] == 3
