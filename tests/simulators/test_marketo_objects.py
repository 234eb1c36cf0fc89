"""Marketo simulator: Sales Persons, Companies, Opportunities and Roles (sync, get, delete, describe)."""

from __future__ import annotations

from typing import Any


def test_results_carry_seq_and_duplicate_company_keys_get_1036(mkto_with_owner: Any) -> None:
    body = mkto_with_owner.sync(
        "companies",
        [
            {"externalCompanyId": "001B", "company": "Beta"},
            {"externalCompanyId": "001A", "company": "Acme 2"},
            {"externalCompanyId": "001B", "company": "Beta again"},
        ],
    )
    assert body["success"] is True
    assert [r["seq"] for r in body["result"]] == [0, 1, 2]
    assert [r["status"] for r in body["result"]] == ["created", "updated", "skipped"]
    assert body["result"][2]["reasons"][0]["code"] == "1036"
    assert isinstance(body["result"][0]["id"], int)


def test_create_only_and_update_only_on_companies(mkto_with_owner: Any) -> None:
    exists = mkto_with_owner.sync("companies", [{"externalCompanyId": "001A"}], action="createOnly")
    missing = mkto_with_owner.sync("companies", [{"externalCompanyId": "001Z"}], action="updateOnly")
    assert exists["result"][0]["reasons"][0]["code"] == "1017"
    assert missing["result"][0]["reasons"][0]["code"] == "1013"


def test_unknown_field_and_bad_value_skip_only_their_record(mkto_with_owner: Any) -> None:
    body = mkto_with_owner.sync(
        "salespersons",
        [
            {"externalSalesPersonId": "005B", "nickname": "B"},
            {"externalSalesPersonId": "005C", "email": "c@example.com"},
            {"externalSalesPersonId": "x" * 300},
        ],
    )
    codes = [r.get("reasons", [{}])[0].get("code", r["status"]) for r in body["result"]]
    assert codes == ["1006", "created", "1001"]


def test_opportunity_with_unknown_sales_person_fails_the_whole_call_with_718(mkto_with_owner: Any) -> None:
    body = mkto_with_owner.sync(
        "opportunities",
        [
            {"externalOpportunityId": "006A", "name": "Good", "externalSalesPersonId": "005A"},
            {"externalOpportunityId": "006B", "name": "Bad", "externalSalesPersonId": "005Q"},
        ],
    )
    assert body["success"] is False
    assert body["errors"][0] == {"code": "718", "message": "ExternalSalesPersonID not found"}
    assert "result" not in body
    assert mkto_with_owner.sim.store.counts()["opportunities"] == 0


def test_opportunity_needs_a_name_and_returns_marketo_guids(mkto_with_owner: Any) -> None:
    body = mkto_with_owner.sync(
        "opportunities",
        [
            {"externalOpportunityId": "006A", "name": "Chairs", "amount": 1604.47, "closeDate": "2026-03-01"},
            {"externalOpportunityId": "006B"},
        ],
    )
    first, second = body["result"]
    assert first["status"] == "created" and len(first["marketoGUID"]) == 36
    assert second["status"] == "skipped" and second["reasons"][0]["code"] == "1002"


def _roles_fixture(mkto: Any) -> int:
    mkto.sync("opportunities", [{"externalOpportunityId": "006A", "name": "Chairs"}])
    lead_id: int = mkto.sync(
        "leads", [{"externalPersonId": "003A", "email": "buyer@example.com"}], lookupField="externalPersonId"
    )["result"][0]["id"]
    return lead_id


def test_roles_use_the_compound_key_and_need_their_opportunity_and_lead(mkto_with_owner: Any) -> None:
    lead_id = _roles_fixture(mkto_with_owner)
    roles = [{"externalOpportunityId": "006A", "leadId": lead_id, "role": role} for role in ("Buyer", "Champion")]
    first = mkto_with_owner.sync("roles", roles)
    again = mkto_with_owner.sync("roles", [{**roles[0], "isPrimary": True}])
    orphan = mkto_with_owner.sync(
        "roles",
        [
            {"externalOpportunityId": "006Z", "leadId": lead_id, "role": "Buyer"},
            {"externalOpportunityId": "006A", "leadId": 999_999, "role": "Buyer"},
        ],
    )
    assert [r["status"] for r in first["result"]] == ["created", "created"]
    assert again["result"][0] == {"seq": 0, "marketoGUID": first["result"][0]["marketoGUID"], "status": "updated"}
    assert [r["reasons"][0]["code"] for r in orphan["result"]] == ["1013", "1013"]


def test_compound_role_query_pages_with_method_get_json(mkto_with_owner: Any) -> None:
    lead_id = _roles_fixture(mkto_with_owner)
    keys = [{"externalOpportunityId": "006A", "leadId": lead_id, "role": f"Role {i}"} for i in range(5)]
    mkto_with_owner.sync("roles", keys)
    request = {"filterType": "dedupeFields", "fields": ["marketoGUID", "role", "leadId"], "input": keys, "batchSize": 2}
    seen: list[str] = []
    token = None
    for _ in range(5):
        page = mkto_with_owner.post(
            "/rest/v1/opportunities/roles.json",
            {**request, **({"nextPageToken": token} if token else {})},
            _method="GET",
        )
        seen += [row["role"] for row in page["result"]]
        token = page.get("nextPageToken")
        if not token:
            break
    assert sorted(seen) == [f"Role {i}" for i in range(5)]
    entry = next(e for e in mkto_with_owner.sim.log.all() if e.operation == "get")
    assert entry.method == "POST" and entry.detail["_method"] == "GET" and entry.records == 5


def test_simple_role_query_by_lead_id(mkto_with_owner: Any) -> None:
    lead_id = _roles_fixture(mkto_with_owner)
    mkto_with_owner.sync("roles", [{"externalOpportunityId": "006A", "leadId": lead_id, "role": "Buyer"}])
    body = mkto_with_owner.get("/rest/v1/opportunities/roles.json", filterType="leadId", filterValues=str(lead_id))
    assert [row["role"] for row in body["result"]] == ["Buyer"]
    assert body["result"][0]["seq"] == 0


def test_deletes_skip_missing_keys_with_1013_and_sales_persons_in_use_with_1022(mkto_with_owner: Any) -> None:
    mkto_with_owner.sync("salespersons", [{"externalSalesPersonId": "005B"}])
    body = mkto_with_owner.post(
        "/rest/v1/salespersons/delete.json",
        {
            "input": [
                {"externalSalesPersonId": "005A"},
                {"externalSalesPersonId": "005B"},
                {"externalSalesPersonId": "005Q"},
            ]
        },
    )
    codes = [r.get("reasons", [{}])[0].get("code", r["status"]) for r in body["result"]]
    assert codes == ["1022", "deleted", "1013"]
    assert [r["seq"] for r in body["result"]] == [0, 1, 2]


def test_describe_mirrors_the_documented_metadata(mkto: Any) -> None:
    roles = mkto.get("/rest/v1/opportunities/roles/describe.json")["result"][0]
    companies = mkto.get("/rest/v1/companies/describe.json")["result"][0]
    assert roles["idField"] == "marketoGUID"
    assert roles["dedupeFields"] == ["externalOpportunityId", "leadId", "role"]
    assert ["externalOpportunityId", "leadId", "role"] in roles["searchableFields"]
    external = next(f for f in companies["fields"] if f["name"] == "externalCompanyId")
    assert external == {
        "name": "externalCompanyId",
        "displayName": "External Company Id",
        "dataType": "string",
        "length": 100,
        "updateable": False,
    }


def test_get_by_filter_defaults_and_requested_fields(mkto_with_owner: Any) -> None:
    default = mkto_with_owner.get("/rest/v1/companies.json", filterType="dedupeFields", filterValues="001A")
    chosen = mkto_with_owner.get(
        "/rest/v1/companies.json",
        filterType="externalCompanyId",
        filterValues="001A",
        fields="company,externalSalesPersonId",
    )
    assert set(default["result"][0]) == {"seq", "id", "externalCompanyId", "createdAt", "updatedAt"}
    assert chosen["result"][0]["company"] == "Acme" and chosen["result"][0]["externalSalesPersonId"] == "005A"
