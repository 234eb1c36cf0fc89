"""sObject Collections update as documented: per-record results, the 200 cap, allOrNone, assignment rules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from simple_salesforce import format_soql

from simulators.common.faults import Burst, FaultPlan

if TYPE_CHECKING:
    from tests.simulators.conftest import SalesforceHttp


def lead(record_id: str, **fields: Any) -> dict[str, Any]:
    return {"attributes": {"type": "Lead"}, "id": record_id, **fields}


def open_leads(sf: SalesforceHttp, n: int) -> list[dict[str, Any]]:
    return sf.records(
        format_soql(
            "SELECT Id, OwnerId, SystemModstamp, LastModifiedDate, LastModifiedById FROM Lead "
            "WHERE IsConverted = false ORDER BY Id LIMIT {}",
            n,
        )
    )


def test_results_come_back_per_record_in_input_order(sf: SalesforceHttp) -> None:
    good = open_leads(sf, 3)
    converted = sf.records("SELECT Id FROM Lead WHERE IsConverted = true LIMIT 1")[0]["Id"]
    deleted = next(r["Id"] for r in sf.records("SELECT Id, IsDeleted FROM Lead", all_rows=True) if r["IsDeleted"])
    records = [
        lead(good[0]["Id"], mkto_si__Priority__c=42),
        lead(converted, mkto_si__Priority__c=1),
        lead(deleted, mkto_si__Priority__c=1),
        lead("not-an-id", mkto_si__Priority__c=1),
        lead("00Q000000000000EAA", mkto_si__Priority__c=1),
        lead(good[1]["Id"], mkto_si__Urgency__c="5/5"),
        lead(good[1]["Id"], Bogus__c=1),
        lead(good[2]["Id"], Title="x" * 129),
        {"attributes": {"type": "Lead"}, "mkto_si__Priority__c": 1},
        lead(good[2]["Id"][:15], mkto_si__Last_Interesting_Moment_Date__c="2025-03-04T05:06:07.000+0000"),
    ]
    response = sf.update(records)
    assert response.status_code == 200
    results = response.json()
    assert results[0] == {"id": good[0]["Id"], "success": True, "errors": []}
    codes = [r["errors"][0]["statusCode"] if r["errors"] else "OK" for r in results]
    assert codes == [
        "OK",
        "CANNOT_UPDATE_CONVERTED_LEAD",
        "ENTITY_IS_DELETED",
        "MALFORMED_ID",
        "INVALID_CROSS_REFERENCE_KEY",
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        "INVALID_FIELD",
        "STRING_TOO_LONG",
        "MISSING_ARGUMENT",
        "OK",
    ]
    assert all("id" not in r for r in results if not r["success"])  # failed records carry no id
    assert results[9]["id"] == good[2]["Id"]  # a 15-character id is answered in 18
    assert results[5]["errors"][0]["fields"] == ["mkto_si__Urgency__c"]
    assert results[7]["errors"][0]["message"] == f"Title: data value too large: {'x' * 80} (max length=128)"
    entry = sf.sim.log.all()[-1]
    assert entry.operation == "composite_update" and entry.obj == "Lead" and entry.records == 10
    assert entry.record_codes["OK"] == 2 and entry.record_codes["STRING_TOO_LONG"] == 1
    stored = sf.sim.org.get(good[2]["Id"])
    assert stored is not None and stored["mkto_si__Last_Interesting_Moment_Date__c"] == "2025-03-04T05:06:07.000+0000"


def test_more_than_200_records_is_refused_whole(sf: SalesforceHttp) -> None:
    ids = [r["Id"] for r in open_leads(sf, 201)]
    response = sf.update([lead(i, mkto_si__Priority__c=1) for i in ids])
    assert response.status_code == 400
    assert response.json() == [
        {
            "message": "record limit reached. cannot submit more than 200 records into this call",
            "errorCode": "EXCEEDED_ID_LIMIT",
        }
    ]
    assert all(sf.sim.org.get(i)["mkto_si__Priority__c"] != 1 for i in ids)  # type: ignore[index]


def test_all_or_none_rolls_back_the_innocent(sf: SalesforceHttp) -> None:
    good = open_leads(sf, 2)
    before = [sf.sim.org.get(r["Id"]) for r in good]
    response = sf.update(
        [
            lead(good[0]["Id"], mkto_si__Priority__c=7),
            lead("00Q000000000000EAA", Title="x"),
            lead(good[1]["Id"], mkto_si__Priority__c=7),
        ],
        all_or_none=True,
    )
    results = response.json()
    assert [r["errors"][0]["statusCode"] for r in results] == [
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "INVALID_CROSS_REFERENCE_KEY",
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    ]
    assert [sf.sim.org.get(r["Id"]) for r in good] == before


def test_a_write_bumps_modstamps_and_names_the_token_user(sf: SalesforceHttp) -> None:
    target = open_leads(sf, 1)[0]
    assert sf.update([lead(target["Id"], mkto_si__Priority__c=99)]).json()[0]["success"]
    after = sf.records(
        format_soql(
            "SELECT Id, SystemModstamp, LastModifiedDate, LastModifiedById, "
            "mkto_si__Priority__c FROM Lead WHERE Id = {}",
            target["Id"],
        )
    )[0]
    assert after["mkto_si__Priority__c"] == 99.0
    assert after["SystemModstamp"] > target["SystemModstamp"]
    assert after["LastModifiedDate"] > target["LastModifiedDate"]
    assert after["LastModifiedById"] == sf.sim.org.integration_user_id != target["LastModifiedById"]


def test_modstamps_strictly_increase_across_the_org(sf: SalesforceHttp) -> None:
    ids = [r["Id"] for r in open_leads(sf, 50)]
    sf.update([lead(i, mkto_si__Priority__c=3) for i in ids])
    stamps = [sf.sim.org.get(i)["SystemModstamp"] for i in ids]  # type: ignore[index]
    assert len(set(stamps)) == 50 and stamps == sorted(stamps)


@pytest.mark.parametrize(("header", "reassigned"), [(None, True), ("TRUE", True), ("FALSE", False), ("false", False)])
def test_lead_assignment_rules_run_unless_sforce_auto_assign_is_false(
    sf: SalesforceHttp, header: str | None, reassigned: bool
) -> None:
    queue = sf.sim.org.assignment_queue_id
    targets = [r for r in open_leads(sf, 40) if r["OwnerId"] != queue][:5]
    response = sf.update([lead(r["Id"], mkto_si__Priority__c=5) for r in targets], auto_assign=header)
    assert all(r["success"] for r in response.json())
    owners = {sf.sim.org.get(r["Id"])["OwnerId"] for r in targets}  # type: ignore[index]
    entry = sf.sim.log.all()[-1]
    if reassigned:
        assert owners == {queue} and entry.record_codes["AUTO_ASSIGNED"] == 5
    else:
        assert queue not in owners and "AUTO_ASSIGNED" not in entry.record_codes
    assert entry.detail["auto_assign"] is reassigned


def test_contacts_are_not_touched_by_lead_assignment(sf: SalesforceHttp) -> None:
    contact = sf.records("SELECT Id, OwnerId FROM Contact LIMIT 1")[0]
    sf.update([{"attributes": {"type": "Contact"}, "id": contact["Id"], "mkto_si__Priority__c": 1}], auto_assign=None)
    assert sf.sim.org.get(contact["Id"])["OwnerId"] == contact["OwnerId"]  # type: ignore[index]


def test_unable_to_lock_row_fault_fails_single_records(sf: SalesforceHttp) -> None:
    sf.sim.faults = FaultPlan(bursts={"unable_to_lock_row": Burst(every=3, length=1)})
    ids = [r["Id"] for r in open_leads(sf, 6)]
    results = sf.update([lead(i, mkto_si__Priority__c=2) for i in ids]).json()
    codes = [r["errors"][0]["statusCode"] if r["errors"] else "OK" for r in results]
    assert codes == ["UNABLE_TO_LOCK_ROW", "OK", "OK", "UNABLE_TO_LOCK_ROW", "OK", "OK"]
    assert results[0]["errors"][0]["message"] == "unable to obtain exclusive access to this record"
    assert sf.sim.log.all()[-1].record_codes == {"UNABLE_TO_LOCK_ROW": 2, "OK": 4}


def test_unparseable_values_refuse_the_request(sf: SalesforceHttp) -> None:
    target = open_leads(sf, 1)[0]["Id"]
    response = sf.update([lead(target, mkto_si__Priority__c="high")])
    assert response.status_code == 400 and response.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    bad_json = sf.data("PATCH", "composite/sobjects", data="{not json", headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 400 and bad_json.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
