"""Changes made "in Salesforce": merges, conversions, deletes, owners, contact roles, and seeded mutation."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import pytest
from simple_salesforce import format_soql

from clients import sfids
from simulators.salesforce import schema
from simulators.salesforce.generator import generate
from simulators.salesforce.org import Org, StoreError

if TYPE_CHECKING:
    from tests.simulators.conftest import SalesforceHttp


@pytest.fixture
def org() -> Org:
    return generate(21, 1200)


def live(org: Org, sobject: str, **where: Any) -> list[dict[str, Any]]:
    return [r for r in org.records(sobject, include_deleted=False) if all(r[k] == v for k, v in where.items())]


def test_create_fills_audit_fields_and_valid_ids(org: Org) -> None:
    owner = org.admin_user_id
    lead_id = org.create("Lead", {"LastName": "Nguyen", "Company": "Acme", "OwnerId": owner})
    lead = org.get(lead_id)
    assert lead is not None and sfids.to_18(lead_id) == lead_id and lead_id.startswith("00Q")
    assert lead["IsDeleted"] is False and lead["IsConverted"] is False and lead["Status"]
    assert lead["CreatedDate"] == lead["SystemModstamp"] == lead["LastModifiedDate"]
    with pytest.raises(StoreError):
        org.create("Lead", {"NoSuchField": 1})


def test_merge_deletes_losers_and_reparents_their_children(org: Org) -> None:
    accounts = [a for a in live(org, "Account") if live(org, "Contact", AccountId=a["Id"])]
    winner, loser = accounts[0]["Id"], accounts[1]["Id"]
    moved_contacts = {c["Id"] for c in live(org, "Contact", AccountId=loser)}
    moved_opportunities = {o["Id"] for o in live(org, "Opportunity", AccountId=loser)}
    before = org.get(winner)["SystemModstamp"]  # type: ignore[index]
    result = org.merge(winner, [loser])
    gone = org.get(loser)
    assert gone is not None and gone["IsDeleted"] and gone["MasterRecordId"] == winner
    assert set(result["reparented"]) == moved_contacts | moved_opportunities
    assert all(org.get(c)["AccountId"] == winner for c in moved_contacts)  # type: ignore[index]
    assert all(org.get(o)["AccountId"] == winner for o in moved_opportunities)  # type: ignore[index]
    assert org.get(winner)["SystemModstamp"] > before  # type: ignore[index]


def test_merging_contacts_moves_their_contact_roles(org: Org) -> None:
    role = live(org, "OpportunityContactRole")[0]
    loser = sfids.to_18(role["ContactId"])
    winner = next(c["Id"] for c in live(org, "Contact") if c["Id"] != loser)
    org.merge(winner, [loser])
    assert org.get(role["Id"])["ContactId"] == winner  # type: ignore[index]
    with pytest.raises(StoreError):
        org.undelete(loser)  # merged records are not restored this way


def test_converting_a_lead_makes_a_contact_account_and_opportunity(org: Org) -> None:
    lead = next(r for r in live(org, "Lead", IsConverted=False) if r["OwnerId"].startswith("005"))
    result = org.convert_lead(lead["Id"])
    converted = org.get(lead["Id"])
    contact, account = org.get(str(result["contact"])), org.get(str(result["account"]))
    opportunity = org.get(str(result["opportunity"]))
    assert converted is not None and contact is not None and account is not None and opportunity is not None
    assert converted["IsConverted"] and converted["Status"] == schema.CONVERTED_STATUS
    assert converted["ConvertedContactId"] == contact["Id"] and converted["ConvertedAccountId"] == account["Id"]
    assert converted["ConvertedOpportunityId"] == opportunity["Id"] and converted["ConvertedDate"]
    assert (contact["Email"], contact["LastName"], contact["AccountId"]) == (
        lead["Email"],
        lead["LastName"],
        account["Id"],
    )
    assert account["Name"] == lead["Company"]
    assert contact["OwnerId"] == account["OwnerId"] == opportunity["OwnerId"] == lead["OwnerId"]
    roles = live(org, "OpportunityContactRole", OpportunityId=opportunity["Id"])
    assert [(r["ContactId"], r["IsPrimary"]) for r in roles] == [(contact["Id"], True)]
    with pytest.raises(StoreError):
        org.convert_lead(lead["Id"])


def test_converting_into_an_existing_account_and_a_queue_owned_lead(org: Org) -> None:
    account = live(org, "Account")[0]["Id"]
    queued = next(r for r in live(org, "Lead", IsConverted=False) if r["OwnerId"].startswith("00G"))
    with pytest.raises(StoreError, match="owned by a user"):
        org.convert_lead(queued["Id"])
    result = org.convert_lead(queued["Id"], account_id=account, owner_id=org.admin_user_id, create_opportunity=False)
    assert result["account"] == account and result["opportunity"] is None
    assert org.get(str(result["contact"]))["OwnerId"] == org.admin_user_id  # type: ignore[index]


def test_deleting_an_account_cascades_and_undelete_restores(org: Org) -> None:
    account = next(a for a in live(org, "Account") if live(org, "Opportunity", AccountId=a["Id"]))
    children = {c["Id"] for c in live(org, "Contact", AccountId=account["Id"])} | {
        o["Id"] for o in live(org, "Opportunity", AccountId=account["Id"])
    }
    deleted = org.delete(account["Id"])
    assert deleted[0] == account["Id"] and children <= set(deleted)
    assert all(org.get(i)["IsDeleted"] for i in deleted)  # type: ignore[index]
    assert set(org.undelete(account["Id"])) == set(deleted)
    assert not any(org.get(i)["IsDeleted"] for i in deleted)  # type: ignore[index]


def test_owner_changes_contact_roles_and_deactivation(org: Org) -> None:
    lead = live(org, "Lead", IsConverted=False)[0]["Id"]
    queue = org.assignment_queue_id
    org.change_owner(lead, queue)
    assert org.get(lead)["OwnerId"] == queue  # type: ignore[index]
    with pytest.raises(StoreError):
        org.change_owner(live(org, "Account")[0]["Id"], queue)  # accounts cannot be queue-owned
    role = live(org, "OpportunityContactRole")[0]["Id"]
    org.set_contact_role(role, Role="Evaluator", IsPrimary=True)
    assert (org.get(role)["Role"], org.get(role)["IsPrimary"]) == ("Evaluator", True)  # type: ignore[index]
    user = next(u["Id"] for u in live(org, "User", IsActive=True) if u["Id"] != org.admin_user_id)
    org.deactivate_user(user)
    assert org.get(user)["IsActive"] is False  # type: ignore[index]


def test_mutate_is_deterministic_and_does_every_kind_of_change() -> None:
    first, second = generate(8, 5000), generate(8, 5000)
    done = first.mutate(seed=5, n=300)
    assert done == second.mutate(seed=5, n=300)
    clock_fields = {"CreatedDate", "LastModifiedDate", "SystemModstamp", "ConvertedDate"}  # the real clock moves

    def without_clock(org: Org, sobject: str) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if k not in clock_fields} for r in org.records(sobject)]

    for sobject in ("Lead", "Contact", "OpportunityContactRole"):
        assert without_clock(first, sobject) == without_clock(second, sobject)
    assert len(done) == 300
    assert {change["op"] for change in done} == {
        "update",
        "create",
        "owner",
        "contact_role",
        "convert",
        "delete",
        "merge",
        "undelete",
        "deactivate",
    }


def test_mutated_records_show_up_after_a_watermark(sf: SalesforceHttp) -> None:
    newest = sf.records("SELECT Id, SystemModstamp FROM Contact ORDER BY SystemModstamp DESC LIMIT 1")[0]
    stamp = datetime.fromisoformat(newest["SystemModstamp"]).replace(microsecond=0)
    changes = sf.control("POST", "mutate", json={"seed": 1, "n": 40})["changes"]
    touched_contacts = {c["id"] for c in changes if c.get("sobject") == "Contact" and c["op"] == "update"}
    soql = format_soql("SELECT Id FROM Contact WHERE SystemModstamp > {}", stamp)
    changed = {r["Id"] for r in sf.records(soql, all_rows=True)}
    assert touched_contacts <= changed


def test_explicit_operations_through_the_control_api(sf: SalesforceHttp) -> None:
    owner = sf.sim.org.admin_user_id
    created = sf.control(
        "POST",
        "mutate",
        json={
            "operations": [
                {
                    "op": "create",
                    "sobject": "Lead",
                    "fields": {"LastName": "Ops", "Company": "Ops Inc", "OwnerId": owner},
                },
            ]
        },
    )["results"][0]
    assert created["ok"] and created["id"].startswith("00Q")
    results = sf.control(
        "POST",
        "mutate",
        json={
            "operations": [
                {"op": "update", "id": created["id"], "fields": {"Title": "CTO"}},
                {"op": "convert", "lead": created["id"], "opportunity": False},
                {"op": "convert", "lead": created["id"]},
                {"op": "nonsense"},
            ]
        },
    )["results"]
    assert [r["ok"] for r in results] == [True, True, False, False]
    assert sf.records(format_soql("SELECT IsConverted, Title FROM Lead WHERE Id = {}", created["id"]))[0] == {
        "attributes": {"type": "Lead", "url": f"/services/data/v62.0/sobjects/Lead/{created['id']}"},
        "IsConverted": True,
        "Title": "CTO",
    }
