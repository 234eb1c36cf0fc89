"""The generated org: deterministic, realistic in shape, valid ids, and the bad input real orgs hold."""

from __future__ import annotations

from typing import Any

import pytest

from clients import sfids
from simulators.salesforce import schema
from simulators.salesforce.generator import counts_for, generate
from simulators.salesforce.org import Org


def snapshot(org: Org) -> dict[str, list[dict[str, Any]]]:
    return {name: list(org.records(name)) for name in org.tables}


def test_same_seed_and_size_give_the_same_org() -> None:
    assert snapshot(generate(3, 300)) == snapshot(generate(3, 300))
    assert snapshot(generate(3, 300, bad_input=True)) == snapshot(generate(3, 300, bad_input=True))


def test_another_seed_gives_another_org() -> None:
    first, second = generate(3, 300), generate(4, 300)
    assert first.org_id != second.org_id
    assert [r["Email"] for r in first.records("Lead")] != [r["Email"] for r in second.records("Lead")]


@pytest.mark.parametrize("size", [20, 1000])
def test_size_is_the_number_of_business_records(size: int) -> None:
    org = generate(1, size)
    counts = org.counts()
    assert sum(counts[name]["total"] for name in schema.BUSINESS_OBJECTS) == size
    assert counts["User"]["total"] == max(5, size // 500)
    assert 1 <= counts["Group"]["total"] <= 3
    expected = counts_for(size)
    for name in schema.BUSINESS_OBJECTS:
        assert counts[name]["total"] == expected[name]


def test_every_id_and_reference_is_a_valid_eighteen_character_id_of_the_right_object() -> None:
    org = generate(2, 800)
    for name, table in org.tables.items():
        for record in org.records(name):
            assert record["Id"] == sfids.to_18(record["Id"])
            assert record["Id"].startswith(table.sobject.key_prefix)
            for field in table.sobject.fields:
                value = record[field.name]
                if field.type == schema.REFERENCE and value is not None:
                    assert len(value) == 18 and sfids.is_valid(value)
                    target = org.locate(value)
                    assert target is not None, (name, field.name, value)
                    assert target[0].sobject.name in field.reference_to


def test_the_org_looks_like_a_real_one() -> None:
    org = generate(9, 3000)
    users = list(org.records("User"))
    assert any(not u["IsActive"] for u in users)
    assert any(u["UserType"] != "Standard" for u in users)
    contacts = list(org.records("Contact", include_deleted=False))
    without_account = sum(1 for c in contacts if c["AccountId"] is None)
    assert 0 < without_account < len(contacts) * 0.2
    leads = list(org.records("Lead"))
    assert any(lead["OwnerId"].startswith(sfids.PREFIX_QUEUE) for lead in leads)
    converted = [lead for lead in leads if lead["IsConverted"]]
    assert converted and all(
        lead["ConvertedContactId"] and lead["Status"] == schema.CONVERTED_STATUS for lead in converted
    )
    for lead in converted[:20]:
        contact = org.get(lead["ConvertedContactId"])
        assert contact is not None and contact["Email"] == lead["Email"]  # one person, two records
    merged = [lead for lead in leads if lead["MasterRecordId"]]
    assert merged and all(lead["IsDeleted"] for lead in merged)
    opportunities = list(org.records("Opportunity"))
    assert any(o["AccountId"] is None for o in opportunities)
    roles = list(org.records("OpportunityContactRole"))
    assert len({(r["OpportunityId"], r["ContactId"], r["Role"]) for r in roles}) == len(roles)
    assert any(r["IsPrimary"] for r in roles)
    stamps = [r["SystemModstamp"] for r in contacts]
    assert all(s.endswith("+0000") and len(s) == 28 for s in stamps)
    assert len(set(stamps)) < len(stamps)  # some rows share a stamp, as a data load leaves them


def test_bad_input_adds_the_awkward_cases() -> None:
    org = generate(4, 2000, bad_input=True)
    leads = list(org.records("Lead"))
    contacts = list(org.records("Contact"))
    people = leads + contacts
    emails = [p["Email"] for p in people if p["Email"]]
    assert "not-an-email" in emails and any(not e.isascii() for e in emails)
    assert any(p["LastName"] and "😀" in p["LastName"] for p in people)
    assert any(p["FirstName"] and any(ord(c) < 32 for c in p["FirstName"]) for p in people)
    assert any(lead["LastName"] is None for lead in leads)
    assert any(o["Name"] is None for o in org.records("Opportunity"))
    live_emails = [lead["Email"] for lead in leads if not lead["IsDeleted"] and lead["Email"]]
    assert len(set(live_emails)) < len(live_emails)  # the same person twice
    assert any(a["Description"] and len(a["Description"]) > 255 for a in org.records("Account"))
    users = {u["Id"][:15]: u for u in org.records("User")}
    assert any(not users[c["OwnerId"][:15]]["IsActive"] for c in contacts)
    short = [
        value
        for name in ("Account", "Contact", "Lead", "Opportunity", "OpportunityContactRole")
        for record in org.records(name)
        for field, value in record.items()
        if field.endswith("Id") and isinstance(value, str) and len(value) == 15
    ]
    assert short and all(sfids.is_valid(value) for value in short)
    deleted_contacts = {c["Id"] for c in contacts if c["IsDeleted"]}
    assert any(
        r["ContactId"] in deleted_contacts or sfids.to_18(r["ContactId"]) in deleted_contacts
        for r in org.records("OpportunityContactRole")
    )


@pytest.mark.slow
def test_a_million_records_in_reasonable_time() -> None:
    import time

    started = time.monotonic()
    org = generate(1, 1_000_000)
    assert time.monotonic() - started < 60
    assert sum(org.counts()[name]["total"] for name in schema.BUSINESS_OBJECTS) == 1_000_000
