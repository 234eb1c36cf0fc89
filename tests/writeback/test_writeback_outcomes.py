"""Every per-record result of a write-back write ends where it should, on real workers and simulators."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from clients.sfids import to_18
from models.db import session_scope
from models.operations import WritebackState
from models.records import Failure, IdMap
from simulators.common.faults import FaultPlan
from tests.writeback.conftest import differing, run_pass, set_msi
from tests.writeback.test_writeback_pass import live_people, salesforce_writes

# A Lead id Salesforce never issued: a person the id map knows and the org does not.
GHOST = to_18("00Q9900000GHOST")


def codes(entries: list[Any]) -> dict[str, int]:
    total: dict[str, int] = {}
    for entry in entries:
        for code, count in entry.record_codes.items():
            total[code] = total.get(code, 0) + count
    return total


def add_ghost(stack: Any) -> None:
    """A synced person that is not in Salesforce (any record-level error that is not special will do)."""
    store = stack.marketo.store
    with store.lock:
        lead_id = store.leads.new_id()
        store.leads.insert({"id": lead_id, "externalPersonId": GHOST, "email": "ghost@example.com", "priority": 7})
    with session_scope(stack.database_url) as session:
        session.add(IdMap(object_type="leads", sf_id=GHOST, sobject="Lead", marketo_id=str(lead_id)))


def test_converted_deleted_locked_and_refused_records_each_end_where_they_should(wb_stack: Any) -> None:
    stack = wb_stack(size=300, seed=43)
    stack.start_worker("sync", "marketo")
    stack.start_worker("writeback", name="wb")
    assert stack.sync().status == "succeeded"
    org = stack.salesforce.org
    people = live_people(stack)
    leads = [p for p in people if p.startswith("00Q") and str(org.get(p)["OwnerId"]).startswith("005")]
    contacts = [p for p in people if p.startswith("003")]
    # A conversion the sync has seen: the Lead is merged into its Contact in the id map, and the
    # Marketo lead now carries the Contact's id.
    seen_contact = to_18(org.convert_lead(leads[1])["contact"])
    assert stack.sync().status == "succeeded"
    # A conversion and a deletion the sync has not seen yet: the id map still says "live".
    unseen_contact = to_18(org.convert_lead(leads[0])["contact"])
    org.delete(contacts[0])
    add_ghost(stack)
    set_msi(stack, leads[0], priority=91, relativeScoring=3)
    set_msi(stack, seen_contact, priority=92)
    set_msi(stack, contacts[0], priority=93)
    for n, contact in enumerate(contacts[1:5]):
        set_msi(stack, contact, priority=94 + n, msiLastInterestingMomentDate="2026-11-20T08:30:00Z")
    # Every row Salesforce would write is locked, for as long as this pass lasts.
    stack.salesforce.faults = FaultPlan(rates={"unable_to_lock_row": 1.0})
    writable = [*contacts[1:5], seen_contact, unseen_contact]

    mark = stack.salesforce.log.last_seq
    run = run_pass(stack, timeout=90)
    assert run.status == "succeeded", run.error
    log = stack.salesforce.log.since(mark)
    seen = codes(salesforce_writes(stack, mark))
    assert seen["CANNOT_UPDATE_CONVERTED_LEAD"] == 1
    assert seen["ENTITY_IS_DELETED"] == 1
    # Locked rows: tried three times within the pass (now, 5 s and 10 s later), then left for the next.
    assert seen["UNABLE_TO_LOCK_ROW"] == 3 * len(writable)
    assert seen["INVALID_CROSS_REFERENCE_KEY"] == 1
    # The converted Lead the sync has not seen: one query for its ConvertedContactId, and its
    # Contact is where its values go from then on (the lock retries went there directly).
    lookups = [e for e in log if e.operation == "query" and "ConvertedContactId" in e.detail.get("soql", "")]
    assert len(lookups) == 1
    with session_scope(stack.database_url) as session:
        states = {s.sf_id: s for s in session.scalars(select(WritebackState))}
        failures = list(session.scalars(select(Failure).where(Failure.object_type == "writeback")))
    assert states[contacts[0]].status == "deleted"
    assert states[leads[0]].written_to == unseen_contact
    assert {sf_id for sf_id, state in states.items() if state.status == "locked"} == {
        *contacts[1:5],
        seen_contact,
        leads[0],
    }
    # Anything else: the failures table, with Salesforce's code and message.
    assert [(f.sf_id, f.code, f.status) for f in failures] == [(GHOST, "INVALID_CROSS_REFERENCE_KEY", "open")]
    assert "invalid cross reference id" in failures[0].message
    summary = run.summary["writeback"]
    assert (summary["deleted"], summary["locked"], summary["failed"]) == (1, len(writable), 1)

    # The locks are gone. The next pass writes the waiting values first; the deleted Contact,
    # changed again in Marketo, is not tried again.
    stack.salesforce.faults = FaultPlan()
    set_msi(stack, contacts[0], priority=99)
    mark = stack.salesforce.log.last_seq
    again = run_pass(stack)
    assert again.status == "succeeded", again.error
    assert again.summary["writeback"]["waiting_writes"] == len(writable)
    assert codes(salesforce_writes(stack, mark)) == {"OK": len(writable), "INVALID_CROSS_REFERENCE_KEY": 1}
    assert org.get(unseen_contact)["mkto_si__Priority__c"] == 91.0
    assert org.get(unseen_contact)["mkto_si__Relative_Score_Value__c"] == 3.0
    assert org.get(seen_contact)["mkto_si__Priority__c"] == 92.0
    assert differing(stack, contacts[1:5]) == []
    assert again.summary["writeback"]["converted"] == 1

    # Once the sync has seen the conversion, the Contact is a person of its own, already holding
    # the values written for its Lead: nothing is written twice. (The ghost is tried again.)
    assert stack.sync().status == "succeeded"
    mark = stack.salesforce.log.last_seq
    later = run_pass(stack)
    assert later.status == "succeeded", later.error
    assert codes(salesforce_writes(stack, mark)) == {"INVALID_CROSS_REFERENCE_KEY": 1}
