"""The simulator's REST API against Salesforce's documented answers: tokens, sessions, queries, limits, describe."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from clients import sfids
from simulators.common.faults import Burst, FaultPlan
from simulators.salesforce import SalesforceSimulator, schema

if TYPE_CHECKING:
    from tests.simulators.conftest import SalesforceHttp

SF_VERSION = "62.0"

DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")
SimFactory = Callable[..., SalesforceSimulator]


# --- OAuth --------------------------------------------------------------------------------------
def test_client_credentials_token_has_the_documented_shape(sf: SalesforceHttp) -> None:
    response = sf.token_response()
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "instance_url", "id", "token_type", "issued_at", "signature", "scope"}
    assert body["token_type"] == "Bearer" and body["instance_url"] == sf.sim.url
    org_id, user_id = body["id"].removeprefix(sf.sim.url + "/id/").split("/")
    assert org_id == sf.sim.org.org_id and user_id == sf.sim.org.integration_user_id
    assert sfids.to_18(org_id) == org_id and body["access_token"].startswith(org_id[:15] + "!")
    assert body["issued_at"].isdigit() and abs(int(body["issued_at"]) / 1000 - time.time()) < 60
    # The signature is HMAC-SHA256(id + issued_at) with the client secret, base64-encoded.
    expected = hmac.new(b"demo-secret", (body["id"] + body["issued_at"]).encode(), hashlib.sha256).digest()
    assert base64.b64decode(body["signature"]) == expected


def test_client_credentials_may_come_as_form_fields(sf: SalesforceHttp) -> None:
    response = sf.token_response(auth=None, client_id="msi-sync-demo", client_secret="demo-secret")
    assert response.status_code == 200 and response.json()["access_token"]


@pytest.mark.parametrize(
    ("auth", "form", "error", "description"),
    [
        (("msi-sync-demo", "wrong"), {}, "invalid_client", "invalid client credentials"),
        (("someone-else", "demo-secret"), {}, "invalid_client_id", "client identifier invalid"),
        (None, {}, "invalid_client_id", "client identifier invalid"),
        (
            ("msi-sync-demo", "demo-secret"),
            {"grant_type": "password"},
            "unsupported_grant_type",
            "grant type not supported",
        ),
    ],
)
def test_refused_credentials_get_400_and_the_oauth_error(
    sf: SalesforceHttp, auth: tuple[str, str] | None, form: dict[str, str], error: str, description: str
) -> None:
    response = sf.token_response(auth=auth, **form)
    assert response.status_code == 400
    assert response.json() == {"error": error, "error_description": description}


@pytest.fixture(scope="module")
def rsa_key() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


def test_jwt_bearer_flow(
    salesforce_sim_factory: SimFactory, sf_for: Callable[..., SalesforceHttp], rsa_key: tuple[bytes, bytes]
) -> None:
    private, public = rsa_key
    sim = salesforce_sim_factory(seed=2, size=30, jwt_public_key_pem=public)
    http = sf_for(sim)
    admin = sim.org.get(sim.org.admin_user_id)
    assert admin is not None

    def grant(**claims: Any) -> requests.Response:
        base = {"iss": "msi-sync-demo", "sub": admin["Username"], "aud": sim.url, "exp": int(time.time()) + 180}
        assertion = jwt.encode({**base, **claims}, private, algorithm="RS256")
        return http.token_response(
            auth=None, grant_type="urn:ietf:params:oauth:grant-type:jwt-bearer", assertion=assertion
        )

    good = grant()
    assert good.status_code == 200, good.text
    assert good.json()["id"].endswith(f"/{sim.org.org_id}/{sim.org.admin_user_id}")
    assert set(good.json()) == {"access_token", "instance_url", "id", "token_type", "scope"}
    assert grant(aud="https://login.salesforce.com").json() == {
        "error": "invalid_grant",
        "error_description": "audience is invalid",
    }
    assert grant(sub="nobody@example.com").json()["error_description"] == "user hasn't approved this consumer"
    assert grant(exp=int(time.time()) - 10).json()["error"] == "invalid_grant"
    assert grant(iss="other-app").json()["error"] == "invalid_client_id"
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(
        {"iss": "msi-sync-demo", "sub": admin["Username"], "aud": sim.url, "exp": int(time.time()) + 180},
        other,
        algorithm="RS256",
    )
    refused = http.token_response(auth=None, grant_type="urn:ietf:params:oauth:grant-type:jwt-bearer", assertion=forged)
    assert refused.status_code == 400 and refused.json()["error_description"] == "invalid assertion"


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "Basic abc"])
def test_unknown_or_missing_token_gets_401_invalid_session_id(sf: SalesforceHttp, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = requests.get(
        sf.sim.url + f"/services/data/v{SF_VERSION}/limits", headers=headers, verify=sf.verify, timeout=10
    )
    assert response.status_code == 401
    assert response.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    assert sf.sim.usage.used == 0  # refused calls are not counted


def test_tokens_expire_after_their_lifetime(
    salesforce_sim_factory: SimFactory, sf_for: Callable[..., SalesforceHttp]
) -> None:
    http = sf_for(salesforce_sim_factory(seed=1, size=20, token_lifetime=0.3))
    assert http.data("GET", "limits").status_code == 200
    time.sleep(0.4)
    expired = http.data("GET", "limits")
    assert expired.status_code == 401 and expired.json()[0]["errorCode"] == "INVALID_SESSION_ID"


def test_version_list_needs_no_token_and_is_not_counted(sf: SalesforceHttp) -> None:
    response = requests.get(sf.sim.url + "/services/data/", verify=sf.verify, timeout=10)
    assert response.status_code == 200
    assert {"label", "url", "version"} <= set(response.json()[0])
    assert any(v["version"] == SF_VERSION for v in response.json())
    assert "Sforce-Limit-Info" not in response.headers and sf.sim.usage.used == 0


# --- queries ------------------------------------------------------------------------------------
def test_query_pages_follow_next_records_url(
    salesforce_sim_factory: SimFactory, sf_for: Callable[..., SalesforceHttp]
) -> None:
    sim = salesforce_sim_factory(seed=4, size=9000)
    http = sf_for(sim)
    total = sum(1 for c in sim.org.records("Contact", include_deleted=False))
    assert total > 2000
    first = http.query("SELECT Id, Email FROM Contact").json()
    assert first["totalSize"] == total and first["done"] is False and len(first["records"]) == 2000
    assert re.fullmatch(rf"/services/data/v{SF_VERSION}/query/01g[A-Za-z0-9]{{15}}-2000", first["nextRecordsUrl"])
    second = http.request("GET", first["nextRecordsUrl"]).json()
    assert second["totalSize"] == total and len(second["records"]) == min(2000, total - 2000)
    everything = http.records("SELECT Id FROM Contact")
    assert len(everything) == total == len({r["Id"] for r in everything})
    operations = [e.operation for e in sim.log.all() if e.operation.startswith("query")]
    assert operations[:2] == ["query", "queryMore"]


def test_batch_size_header_and_record_attributes(sf: SalesforceHttp) -> None:
    body = sf.query(
        "SELECT Id, SystemModstamp, CreatedDate FROM Lead", headers={"Sforce-Query-Options": "batchSize=200"}
    ).json()
    assert len(body["records"]) == 200 and body["nextRecordsUrl"].endswith("-200")
    record = body["records"][0]
    assert list(record) == ["attributes", "Id", "SystemModstamp", "CreatedDate"]
    assert record["attributes"] == {"type": "Lead", "url": f"/services/data/v{SF_VERSION}/sobjects/Lead/{record['Id']}"}
    assert DATETIME.match(record["SystemModstamp"]) and DATETIME.match(record["CreatedDate"])


def test_field_names_come_back_in_their_real_case_and_dates_as_dates(sf: SalesforceHttp) -> None:
    record = sf.query("select id, closedate, isclosed, amount from opportunity limit 1").json()["records"][0]
    assert set(record) == {"attributes", "Id", "CloseDate", "IsClosed", "Amount"}
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", record["CloseDate"]) and isinstance(record["IsClosed"], bool)


def test_query_all_includes_the_recycle_bin(sf: SalesforceHttp) -> None:
    live = sf.records("SELECT Id, IsDeleted FROM Lead")
    everything = sf.records("SELECT Id, IsDeleted, MasterRecordId FROM Lead", all_rows=True)
    assert not any(r["IsDeleted"] for r in live)
    deleted = [r for r in everything if r["IsDeleted"]]
    assert deleted and len(everything) == len(live) + len(deleted)
    assert any(r["MasterRecordId"] for r in deleted)  # merge losers point at their winner
    assert sf.sim.log.all()[-1].operation == "queryAll"


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT Id FROM Foo", "INVALID_TYPE"),
        ("SELECT Id, Bogus__c FROM Lead", "INVALID_FIELD"),
        ("SELECT Id FRM Lead", "MALFORMED_QUERY"),
        ("SELECT Id FROM Lead WHERE SystemModstamp > '2024-01-01'", "INVALID_QUERY_FILTER_OPERATOR"),
    ],
)
def test_bad_queries_get_400_with_the_error_code(sf: SalesforceHttp, soql: str, code: str) -> None:
    response = sf.query(soql)
    assert response.status_code == 400
    [error] = response.json()
    assert error["errorCode"] == code and "ERROR at Row:1:Column:" in error["message"]
    entry = sf.sim.log.all()[-1]
    assert entry.http_status == 400 and entry.error_code == code and entry.detail["soql"] == soql
    assert "?" not in entry.path  # the log keeps no query string


def test_count_query(sf: SalesforceHttp) -> None:
    body = sf.query("SELECT COUNT() FROM Account").json()
    assert body == {
        "totalSize": sum(1 for _ in sf.sim.org.records("Account", include_deleted=False)),
        "done": True,
        "records": [],
    }


def test_expired_cursor_gives_invalid_query_locator(sf: SalesforceHttp) -> None:
    first = sf.query("SELECT Id FROM Lead", headers={"Sforce-Query-Options": "batchSize=200"}).json()
    sf.control("POST", "cursors/expire")
    response = sf.request("GET", first["nextRecordsUrl"])
    assert response.status_code == 400
    assert response.json() == [{"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}]


def test_cursor_is_a_snapshot_of_ids_with_current_values(sf: SalesforceHttp) -> None:
    first = sf.query("SELECT Id, Title FROM Contact ORDER BY Id", headers={"Sforce-Query-Options": "batchSize=200"})
    body = first.json()
    later = sf.records("SELECT Id FROM Contact ORDER BY Id")[200]["Id"]
    sf.sim.org.update(later, {"Title": "Changed while paging"})
    sf.sim.org.create("Contact", {"LastName": "Newcomer"})
    second = sf.request("GET", body["nextRecordsUrl"]).json()
    assert second["totalSize"] == body["totalSize"]  # the newcomer is not in this cursor
    assert second["records"][0]["Id"] == later and second["records"][0]["Title"] == "Changed while paging"


# --- limits -------------------------------------------------------------------------------------
def test_every_data_call_carries_and_counts_sforce_limit_info(sf: SalesforceHttp) -> None:
    sf.token()
    first = sf.data("GET", "limits")
    second = sf.query("SELECT Id FROM User")
    assert first.headers["Sforce-Limit-Info"] == "api-usage=1/100000"
    assert second.headers["Sforce-Limit-Info"] == "api-usage=2/100000"
    assert first.json()["DailyApiRequests"] == {"Max": 100000, "Remaining": 99999}
    assert {"DailyBulkApiBatches", "DailyBulkV2QueryJobs", "DataStorageMB"} <= set(first.json())


def test_past_the_allocation_requests_get_403_request_limit_exceeded(
    salesforce_sim_factory: SimFactory, sf_for: Callable[..., SalesforceHttp]
) -> None:
    sim = salesforce_sim_factory(seed=1, size=20, api_limit=3)
    http = sf_for(sim)
    statuses = [http.data("GET", "limits").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 403, 403]
    refused = http.data("GET", "limits")
    assert refused.json() == [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    assert refused.headers["Sforce-Limit-Info"] == "api-usage=3/3"
    http.control("POST", "usage/reset")
    assert http.data("GET", "limits").status_code == 200


# --- describe and retrieve ----------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(schema.OBJECTS))
def test_describe_lists_exactly_the_objects_fields(sf: SalesforceHttp, name: str) -> None:
    body = sf.data("GET", f"sobjects/{name}/describe").json()
    assert body["name"] == name and body["keyPrefix"] == schema.OBJECTS[name].key_prefix
    assert [f["name"] for f in body["fields"]] == list(schema.OBJECTS[name].names)
    for field in body["fields"]:
        assert {"name", "type", "length", "updateable", "createable", "nillable", "referenceTo"} <= set(field)


def test_describe_marks_msi_formulas_read_only(sf: SalesforceHttp) -> None:
    fields = {f["name"]: f for f in sf.data("GET", "sobjects/Lead/describe").json()["fields"]}
    assert fields["mkto_si__Priority__c"]["updateable"] and fields["mkto_si__Priority__c"]["type"] == "double"
    assert not fields["mkto_si__Urgency__c"]["updateable"] and not fields["mkto_si__Relative_Score__c"]["updateable"]
    assert fields["mkto_si__Last_Interesting_Moment_Desc__c"]["length"] == 32000
    assert fields["OwnerId"]["referenceTo"] == ["User", "Group"]
    assert sf.data("GET", "sobjects/Nope/describe").status_code == 404


def test_retrieve_one_record(sf: SalesforceHttp) -> None:
    lead = sf.records("SELECT Id, Email FROM Lead LIMIT 1")[0]
    body = sf.data("GET", f"sobjects/Lead/{lead['Id'][:15]}").json()
    assert body["Id"] == lead["Id"] and body["Email"] == lead["Email"] and len(body) == len(schema.LEAD.fields) + 1
    deleted = next(r for r in sf.records("SELECT Id, IsDeleted FROM Lead", all_rows=True) if r["IsDeleted"])
    gone = sf.data("GET", f"sobjects/Lead/{deleted['Id']}")
    assert gone.status_code == 404 and gone.json()[0]["errorCode"] == "ENTITY_IS_DELETED"
    assert sf.data("GET", "sobjects/Lead/00Q000000000000EAA").status_code == 404


# --- faults and the log -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("http_500", 500, "UNKNOWN_EXCEPTION"),
        ("http_503", 503, "SERVER_UNAVAILABLE"),
        ("request_limit", 403, "REQUEST_LIMIT_EXCEEDED"),
    ],
)
def test_http_faults_answer_with_salesforce_error_bodies(sf: SalesforceHttp, kind: str, status: int, code: str) -> None:
    sf.control("PUT", "faults", json={"bursts": {kind: {"every": 1000, "length": 1}}})
    response = sf.data("GET", "limits")
    assert response.status_code == status and response.json()[0]["errorCode"] == code
    assert sf.data("GET", "limits").status_code == 200  # the burst was one request long
    assert sf.sim.log.all()[-2].error_code == code


def test_early_token_expiry_revokes_the_presented_token(sf: SalesforceHttp) -> None:
    sf.sim.faults = FaultPlan(bursts={"early_token_expiry": Burst(every=1000, length=1)})
    assert sf.data("GET", "limits").status_code == 401
    assert sf.data("GET", "limits").status_code == 401  # revoked for good, not just once


def test_timeout_fault_holds_the_answer(sf: SalesforceHttp) -> None:
    sf.sim.faults = FaultPlan(bursts={"timeout": Burst(every=1000, length=1)}, timeout_seconds=0.5)
    sf.token()
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        sf.data("GET", "limits", timeout=0.2)
    assert time.monotonic() - started < 0.45
    deadline = time.monotonic() + 3
    while sf.sim.log.all()[-1].operation != "limits" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sf.sim.log.all()[-1].http_status == 200  # answered normally, too late


def test_latency_model(salesforce_sim_factory: SimFactory, sf_for: Callable[..., SalesforceHttp]) -> None:
    http = sf_for(salesforce_sim_factory(seed=1, size=600, latency_per_call=0.05, latency_per_record=0.001))
    http.token()
    started = time.monotonic()
    http.query("SELECT Id FROM Contact LIMIT 150")
    assert time.monotonic() - started >= 0.05 + 0.15


def test_request_log_over_the_control_api(sf: SalesforceHttp) -> None:
    sf.query("SELECT Id FROM Account LIMIT 3")
    log = sf.control("GET", "requests", params={"since": 0})
    token, query = log["requests"][-2:]
    assert token["operation"] == "token" and token["path"] == "/services/oauth2/token"
    assert query["operation"] == "query" and query["obj"] == "Account" and query["records"] == 3
    assert query["detail"]["soql"] == "SELECT Id FROM Account LIMIT 3" and query["ended"] >= query["started"]
    assert sf.control("GET", "requests", params={"since": log["last_seq"]})["requests"] == []
    state = sf.control("GET", "state")
    assert state["counts"]["Account"]["total"] == len(list(sf.sim.org.records("Account")))
    assert state["api_usage"] == {"used": 1, "max": 100000}
    page = sf.control("GET", "records/Lead", params={"limit": 10})
    assert len(page["records"]) == 10 and page["next_offset"] == 10
    assert page["total"] == state["counts"]["Lead"]["total"]
