"""Marketo simulator: Sync/Get/Delete/Merge Leads, lookup fields, company links, the duplicate race."""

from __future__ import annotations

import threading
from typing import Any

from simulators.marketo.schema import MSI_FIELDS


def _codes(body: dict[str, Any]) -> list[str]:
    return [r["reasons"][0]["code"] if r["status"] == "skipped" else r["status"] for r in body["result"]]


def test_lead_results_follow_input_order_without_seq(mkto_with_owner: Any) -> None:
    body = mkto_with_owner.sync(
        "leads",
        [
            {"externalPersonId": "003A", "email": "a@example.com", "externalCompanyId": "001A"},
            {"externalPersonId": "003B", "nickname": "nope"},
            {"externalPersonId": "003C", "email": "c@example.com", "externalSalesPersonId": "005A"},
        ],
        lookupField="externalPersonId",
    )
    assert _codes(body) == ["created", "1006", "created"]
    assert all("seq" not in r for r in body["result"])
    assert "id" not in body["result"][1]


def test_lookup_semantics_1004_1005_1007_1011(mkto: Any) -> None:
    mkto.sync("leads", [{"email": "dup@example.com"}, {"email": "dup@example.com"}], action="createDuplicate")
    update_missing = mkto.sync("leads", [{"email": "none@example.com"}], action="updateOnly")
    create_existing = mkto.sync("leads", [{"email": "dup@example.com"}], action="createOnly")
    ambiguous = mkto.sync("leads", [{"email": "DUP@example.com", "firstName": "X"}])
    unsupported = mkto.sync("leads", [{"firstName": "Y"}], lookupField="firstName")
    assert _codes(update_missing) == ["1004"]
    assert _codes(create_existing) == ["1005"]
    assert _codes(ambiguous) == ["1007"]
    assert unsupported["success"] is False and unsupported["errors"][0]["code"] == "1011"


def test_id_is_only_a_key_with_update_only(mkto: Any) -> None:
    updated = mkto.sync("leads", [{"id": 3, "title": "CTO"}], action="updateOnly")
    refused = mkto.sync("leads", [{"id": 3, "title": "CEO"}], action="createOrUpdate")
    assert _codes(updated) == ["updated"] and _codes(refused) == ["1003"]
    row = mkto.get("/rest/v1/leads.json", filterType="id", filterValues="3", fields="title")["result"][0]
    assert row["title"] == "CTO"


def test_msi_fields_are_read_only_and_returned_only_when_asked(mkto: Any) -> None:
    created = mkto.sync(
        "leads", [{"externalPersonId": "003A", "email": "m@example.com"}], lookupField="externalPersonId"
    )
    written = mkto.sync("leads", [{"externalPersonId": "003A", "relativeScoring": 3}], lookupField="externalPersonId")
    mkto.sim.store.advance_msi(4)
    plain = mkto.get("/rest/v1/leads.json", filterType="externalPersonId", filterValues="003A")["result"][0]
    asked = mkto.get(
        "/rest/v1/leads.json", filterType="externalPersonId", filterValues="003A", fields=",".join(MSI_FIELDS)
    )["result"][0]
    assert _codes(created) == ["created"] and _codes(written) == ["1003"]
    assert not set(MSI_FIELDS) & set(plain)
    assert {"msiLastInterestingMomentType", "priority", "relativeScoring"} <= set(asked)


def test_company_fields_on_a_linked_lead_are_1021_and_inherited_on_read(mkto_with_owner: Any) -> None:
    body = mkto_with_owner.sync(
        "leads",
        [
            {"externalPersonId": "003A", "email": "a@example.com", "externalCompanyId": "001A"},
            {"externalPersonId": "003B", "externalCompanyId": "001A", "company": "Other"},
            {"externalPersonId": "003C", "externalCompanyId": "001Q"},
        ],
        lookupField="externalPersonId",
    )
    assert _codes(body) == ["created", "1021", "1013"]
    lead = mkto_with_owner.get(
        "/rest/v1/leads.json", filterType="externalPersonId", filterValues="003A", fields="company,externalCompanyId"
    )["result"][0]
    assert lead["company"] == "Acme"
    mkto_with_owner.sync("companies", [{"externalCompanyId": "001A", "company": "Acme Renamed"}])
    lead = mkto_with_owner.get(
        "/rest/v1/leads.json", filterType="externalPersonId", filterValues="003A", fields="company"
    )["result"][0]
    assert lead["company"] == "Acme Renamed"


def test_email_must_be_ascii(mkto: Any) -> None:
    body = mkto.sync("leads", [{"email": "jürgen@example.com"}, {"email": "jurgen@example.com"}])
    assert _codes(body) == ["1001", "created"]


def test_more_than_1000_matching_leads_is_1003(mkto: Any) -> None:
    for _ in range(4):
        mkto.sync("leads", [{"email": "same@example.com"}] * 251, action="createDuplicate")
    body = mkto.get("/rest/v1/leads.json", filterType="email", filterValues="same@example.com")
    assert body["success"] is False
    assert body["errors"][0] == {"code": "1003", "message": "Too many results match the filter"}


def test_get_pages_with_next_page_token_and_method_get_form(mkto: Any) -> None:
    ids = ",".join(str(i) for i in range(1, 21))
    first = mkto.post("/rest/v1/leads.json", None, _method="GET")  # no parameters: refused, not a sync
    assert first["success"] is False
    url = mkto.sim.url + "/rest/v1/leads.json"
    form = {"filterType": "id", "filterValues": ids, "batchSize": "8"}
    pages = []
    token = None
    while True:
        data = {**form, **({"nextPageToken": token} if token else {})}
        page = mkto.session.post(url, params={"_method": "GET"}, data=data, headers=mkto.headers(), timeout=10).json()
        pages.append([row["id"] for row in page["result"]])
        token = page.get("nextPageToken")
        if not page["moreResult"]:
            break
    assert pages == [list(range(1, 9)), list(range(9, 17)), list(range(17, 21))]


def test_delete_leads_by_body_and_by_query(mkto: Any) -> None:
    by_body = mkto.post("/rest/v1/leads/delete.json", {"input": [{"id": 1}, {"id": 999}]})
    by_query = mkto.post("/rest/v1/leads/delete.json", None, id="2,3")
    assert _codes(by_body) == ["deleted", "1004"] and _codes(by_query) == ["deleted", "deleted"]
    assert mkto.get("/rest/v1/leads.json", filterType="id", filterValues="1,2,3,4")["result"][0]["id"] == 4


def test_merge_keeps_the_winner_and_removes_the_losers(mkto: Any) -> None:
    made = mkto.sync(
        "leads",
        [
            {"email": "w@example.com", "firstName": "Winner"},
            {"email": "l@example.com", "firstName": "Loser", "title": "VP", "externalPersonId": "003L"},
        ],
        action="createDuplicate",
    )
    winner, loser = (r["id"] for r in made["result"])
    body = mkto.post(f"/rest/v1/leads/{winner}/merge.json", None, leadId=str(loser))
    assert body["success"] is True and "result" not in body
    rows = mkto.get(
        "/rest/v1/leads.json",
        filterType="id",
        filterValues=f"{winner},{loser}",
        fields="firstName,title,externalPersonId",
    )["result"]
    assert rows == [{"id": winner, "firstName": "Winner", "title": "VP", "externalPersonId": "003L"}]
    gone = mkto.post(f"/rest/v1/leads/{winner}/merge.json", None, leadIds=f"{loser}")
    assert gone["errors"][0]["code"] == "1004"


def test_overlapping_upserts_of_a_new_key_create_duplicates(marketo_sim_factory: Any, mkto_for: Any) -> None:
    sim = marketo_sim_factory(latency_per_call=0.4)
    mkto = mkto_for(sim)
    mkto.token()
    barrier = threading.Barrier(2)

    def upsert() -> None:
        barrier.wait()
        record = {"externalPersonId": "003RACE", "email": "race@example.com"}
        mkto.sync("leads", [record], lookupField="externalPersonId")

    threads = [threading.Thread(target=upsert) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    found = mkto.get("/rest/v1/leads.json", filterType="externalPersonId", filterValues="003RACE")["result"]
    later = mkto.sync("leads", [{"externalPersonId": "003RACE", "title": "x"}], lookupField="externalPersonId")
    assert len(found) == 2
    assert _codes(later) == ["1007"]


def test_overlapping_create_only_calls_do_not_duplicate(marketo_sim_factory: Any, mkto_for: Any) -> None:
    sim = marketo_sim_factory(latency_per_call=0.4)
    mkto = mkto_for(sim)
    mkto.token()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def create() -> None:
        barrier.wait()
        body = mkto.sync("leads", [{"externalPersonId": "003ONE"}], action="createOnly", lookupField="externalPersonId")
        outcomes.extend(_codes(body))

    threads = [threading.Thread(target=create) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["1005", "created"]


def test_sequential_upserts_of_the_same_key_update_one_lead(mkto: Any) -> None:
    first = mkto.sync(
        "leads",
        [{"externalPersonId": "003S", "title": "A"}, {"externalPersonId": "003S", "title": "B"}],
        lookupField="externalPersonId",
    )
    second = mkto.sync("leads", [{"externalPersonId": "003S", "title": "C"}], lookupField="externalPersonId")
    assert _codes(first) == ["created", "updated"] and _codes(second) == ["updated"]
    assert first["result"][0]["id"] == first["result"][1]["id"] == second["result"][0]["id"]


def test_describe_lists_lead_fields_with_rest_names(mkto: Any) -> None:
    fields = mkto.get("/rest/v1/leads/describe.json")["result"]
    described2 = mkto.get("/rest/v1/leads/describe2.json")["result"][0]
    priority = next(f for f in fields if f["rest"]["name"] == "priority")
    assert priority["rest"]["readOnly"] is True
    assert ["externalPersonId"] in described2["searchableFields"]
