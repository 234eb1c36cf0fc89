"""The real SalesforceClient against the simulator over real sockets: tokens, paging, ids, writes, errors, budgets."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr
from simple_salesforce import format_soql

from clients import sfids
from clients.errors import (
    AuthenticationFailed,
    BudgetExhausted,
    RequestRejected,
    RetryLater,
    SessionExpired,
)
from clients.limiter import WRITEBACK, LimiterConfig, LocalLimiter
from clients.salesforce import SalesforceClient, normalise_record
from simulators.common.faults import Burst, FaultPlan
from simulators.salesforce import SalesforceSimulator
from worker.settings import load_settings

MakeClient = Callable[..., SalesforceClient]


def data_calls(sim: SalesforceSimulator, since: int = 0) -> list[Any]:
    return [e for e in sim.log.since(since) if e.path.startswith("/services/data/v")]


def open_leads(client: SalesforceClient, n: int) -> list[dict[str, Any]]:
    page = next(
        client.query(format_soql("SELECT Id, OwnerId FROM Lead WHERE IsConverted = false ORDER BY Id LIMIT {}", n))
    )
    return page.records


# --- authentication -----------------------------------------------------------------------------
def test_gets_a_token_and_knows_who_it_is(
    salesforce_sim: SalesforceSimulator, make_salesforce_client: MakeClient
) -> None:
    identity = make_salesforce_client().identity()
    assert identity.org_id == salesforce_sim.org.org_id
    assert identity.user_id == salesforce_sim.org.integration_user_id
    assert identity.instance_url == salesforce_sim.url
    assert [e.operation for e in salesforce_sim.log.all()] == ["token"]


def test_refused_credentials_raise_authentication_failed_without_the_secret(make_salesforce_client: MakeClient) -> None:
    client = make_salesforce_client(client_secret="wrong-secret-value")
    with pytest.raises(AuthenticationFailed) as refused:
        client.identity()
    assert refused.value.code == "invalid_client" and "wrong-secret-value" not in str(refused.value)
    assert "wrong-secret-value" not in repr(client)


def test_jwt_bearer_login(
    salesforce_sim_factory: Callable[..., SalesforceSimulator], make_salesforce_client: MakeClient
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    sim = salesforce_sim_factory(seed=3, size=40, jwt_public_key_pem=public)
    admin = sim.org.get(sim.org.admin_user_id)
    assert admin is not None
    client = make_salesforce_client(sim, client_secret=None, username=admin["Username"], private_key=private)
    assert client.identity().user_id == sim.org.admin_user_id
    assert sim.log.all()[-1].detail["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"


def test_from_settings(salesforce_sim: SalesforceSimulator, salesforce_limiter: LocalLimiter) -> None:
    settings = load_settings(
        SALESFORCE_LOGIN_URL=salesforce_sim.url,
        SALESFORCE_CLIENT_ID="msi-sync-demo",
        SALESFORCE_CLIENT_SECRET=SecretStr("demo-secret"),
        SALESFORCE_API_VERSION="61.0",
    )
    client = SalesforceClient.from_settings(settings, salesforce_limiter, purpose=WRITEBACK)
    assert client.limits()["DailyApiRequests"]["Max"] == 100_000
    assert salesforce_sim.log.all()[-1].path == "/services/data/v61.0/limits/"
    assert salesforce_limiter.snapshot().writeback_salesforce_used_24h == 1


# --- reads ----------------------------------------------------------------------------------------
def test_pages_are_fetched_lazily(salesforce_sim: SalesforceSimulator, make_salesforce_client: MakeClient) -> None:
    client = make_salesforce_client()
    pages = client.query("SELECT Id, Email FROM Contact")
    assert data_calls(salesforce_sim) == []  # nothing is sent before the first page is asked for
    first = next(pages)
    assert [e.operation for e in data_calls(salesforce_sim)] == ["query"]
    assert len(first.records) == 2000 and first.total_size > 2000 and first.next_records_url
    second = next(pages)
    assert [e.operation for e in data_calls(salesforce_sim)] == ["query", "queryMore"]
    rest = list(pages)
    total = len(first.records) + len(second.records) + sum(len(p.records) for p in rest)
    assert total == first.total_size
    assert rest[-1].next_records_url is None if rest else second.next_records_url is None


def test_a_stored_cursor_resumes(make_salesforce_client: MakeClient) -> None:
    client = make_salesforce_client()
    first = next(client.query("SELECT Id FROM Lead ORDER BY Id"))
    assert first.next_records_url is not None
    resumed = make_salesforce_client().query_page(first.next_records_url)  # another client, same org
    assert resumed.records[0]["Id"] > first.records[-1]["Id"]


def test_records_lose_attributes_but_keep_their_type(make_salesforce_client: MakeClient) -> None:
    record = next(make_salesforce_client().query("SELECT Id, Email FROM Lead LIMIT 1")).records[0]
    assert set(record) == {"_type", "Id", "Email"} and record["_type"] == "Lead"


def test_include_deleted_reads_the_recycle_bin(make_salesforce_client: MakeClient) -> None:
    client = make_salesforce_client()
    soql = "SELECT Id, IsDeleted, MasterRecordId FROM Lead WHERE IsDeleted = true"
    assert next(client.query(soql)).records == []
    deleted = next(client.query(soql, include_deleted=True)).records
    assert deleted and all(r["IsDeleted"] for r in deleted)


def test_fifteen_character_ids_are_normalised(
    salesforce_sim: SalesforceSimulator, make_salesforce_client: MakeClient
) -> None:
    raw = [r for r in salesforce_sim.org.records("Contact") if r["OwnerId"] and len(r["OwnerId"]) == 15]
    assert raw  # the bad-input org holds 15-character references
    soql = format_soql("SELECT Id, OwnerId, AccountId FROM Contact WHERE Id IN {}", [r["Id"] for r in raw])
    records = next(make_salesforce_client().query(soql, include_deleted=True)).records
    assert len(records) == len(raw)
    for record in records:
        assert len(record["OwnerId"]) == 18 and record["OwnerId"] == sfids.to_18(record["OwnerId"][:15])
        assert record["AccountId"] is None or len(record["AccountId"]) == 18


def test_invalid_ids_are_kept_and_flagged_not_fatal() -> None:
    record = normalise_record(
        {
            "attributes": {"type": "Lead"},
            "Id": "00Q0100000000AM",
            "OwnerId": "garbage",
            "FiscalId": 7,
            "LeadSource": "Web",
        }
    )
    assert record == {
        "_type": "Lead",
        "Id": "00Q0100000000AMEAY",
        "OwnerId": "garbage",
        "FiscalId": 7,
        "LeadSource": "Web",
        "_invalid_ids": ("OwnerId",),
    }


def test_describe_limits_and_sandbox(
    salesforce_sim_factory: Callable[..., SalesforceSimulator], make_salesforce_client: MakeClient
) -> None:
    client = make_salesforce_client()
    assert any(f["name"] == "mkto_si__Priority__c" for f in client.describe("Lead")["fields"])
    assert client.limits()["DailyApiRequests"]["Max"] == 100_000
    assert client.is_sandbox() is False
    assert make_salesforce_client(salesforce_sim_factory(seed=1, size=20, sandbox=True)).is_sandbox() is True
    with pytest.raises(ValueError):
        client.describe("Lead/../../limits")


# --- writes ---------------------------------------------------------------------------------------
def test_update_returns_per_record_results_and_never_triggers_assignment(
    salesforce_sim: SalesforceSimulator, make_salesforce_client: MakeClient
) -> None:
    client = make_salesforce_client()
    leads = [r for r in open_leads(client, 50) if r["OwnerId"] != salesforce_sim.org.assignment_queue_id][:3]
    converted = next(client.query("SELECT Id FROM Lead WHERE IsConverted = true LIMIT 1")).records[0]["Id"]
    results = client.update(
        [
            {"Id": leads[0]["Id"], "_type": "Lead", "mkto_si__Priority__c": 80},
            {"Id": converted, "mkto_si__Priority__c": 80},
            {"Id": leads[1]["Id"][:15], "mkto_si__Urgency__c": "x"},
            {"Id": leads[2]["Id"], "mkto_si__Relative_Score_Value__c": 12.5},
        ]
    )
    assert [(r.id, r.success) for r in results] == [
        (leads[0]["Id"], True),
        (converted, False),
        (leads[1]["Id"], False),
        (leads[2]["Id"], True),
    ]
    assert results[1].errors == (("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", ()),)
    assert results[2].errors[0][0] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert results[2].errors[0][2] == ("mkto_si__Urgency__c",)
    entry = data_calls(salesforce_sim)[-1]
    assert entry.detail["auto_assign"] is False and "AUTO_ASSIGNED" not in entry.record_codes
    for lead in leads:
        assert salesforce_sim.org.get(lead["Id"])["OwnerId"] == lead["OwnerId"]  # type: ignore[index]


def test_more_than_200_records_is_refused_before_sending(
    salesforce_sim: SalesforceSimulator, make_salesforce_client: MakeClient
) -> None:
    client = make_salesforce_client()
    with pytest.raises(ValueError):
        client.update([{"Id": "00Q0100000000AMEAY", "Title": "x"}] * 201)
    assert client.update([]) == []
    assert data_calls(salesforce_sim) == []


def test_an_expired_token_is_renewed_once_and_the_headers_resent(
    salesforce_sim: SalesforceSimulator, make_salesforce_client: MakeClient
) -> None:
    client = make_salesforce_client()
    leads = [r for r in open_leads(client, 50) if r["OwnerId"] != salesforce_sim.org.assignment_queue_id][:4]
    mark = salesforce_sim.log.last_seq
    salesforce_sim.faults = FaultPlan(bursts={"early_token_expiry": Burst(every=1000, length=1)})
    results = client.update([{"Id": r["Id"], "mkto_si__Priority__c": 33} for r in leads])
    assert all(r.success for r in results)
    calls = [(e.operation, e.http_status) for e in salesforce_sim.log.since(mark)]
    assert calls == [("composite_update", 401), ("token", 200), ("composite_update", 200)]
    assert salesforce_sim.log.all()[-1].detail["auto_assign"] is False  # the re-send kept our header
    assert all(salesforce_sim.org.get(r["Id"])["OwnerId"] == r["OwnerId"] for r in leads)  # type: ignore[index]


def test_a_session_that_stays_invalid_raises_session_expired(
    salesforce_sim: SalesforceSimulator, make_salesforce_client: MakeClient
) -> None:
    client = make_salesforce_client()
    client.identity()
    salesforce_sim.faults = FaultPlan(rates={"early_token_expiry": 1.0})
    mark = salesforce_sim.log.last_seq
    with pytest.raises(SessionExpired):
        client.limits()
    assert [e.operation for e in salesforce_sim.log.since(mark)] == ["limits", "token", "limits"]


# --- failures -------------------------------------------------------------------------------------
def test_request_limit_exceeded_becomes_budget_exhausted(
    salesforce_sim: SalesforceSimulator, make_salesforce_client: MakeClient
) -> None:
    client = make_salesforce_client()
    client.identity()
    salesforce_sim.faults = FaultPlan(rates={"request_limit": 1.0})
    with pytest.raises(BudgetExhausted) as refused:
        client.limits()
    assert refused.value.code == "REQUEST_LIMIT_EXCEEDED" and refused.value.retry_after >= 60
    assert data_calls(salesforce_sim)[-1].http_status == 403


def test_an_org_at_its_allocation_is_not_called_again(
    salesforce_sim_factory: Callable[..., SalesforceSimulator], make_salesforce_client: MakeClient
) -> None:
    sim = salesforce_sim_factory(seed=1, size=20, api_limit=1)
    client = make_salesforce_client(sim)
    client.limits()  # the answer says api-usage=1/1: the limiter now knows the org is out of calls
    with pytest.raises(BudgetExhausted):
        client.limits()
    assert len(data_calls(sim)) == 1


@pytest.mark.parametrize("kind", ["http_500", "http_503"])
def test_server_errors_become_retry_later(
    salesforce_sim: SalesforceSimulator, make_salesforce_client: MakeClient, kind: str
) -> None:
    client = make_salesforce_client()
    client.identity()
    salesforce_sim.faults = FaultPlan(rates={kind: 1.0})
    with pytest.raises(RetryLater) as refused:
        next(client.query("SELECT Id FROM Lead"))
    assert refused.value.http_status in (500, 503) and isinstance(refused.value.__cause__, Exception)


def test_a_timeout_becomes_retry_later(salesforce_sim: SalesforceSimulator, make_salesforce_client: MakeClient) -> None:
    client = make_salesforce_client(timeout=0.3)
    client.identity()
    salesforce_sim.faults = FaultPlan(rates={"timeout": 1.0}, timeout_seconds=0.6)
    with pytest.raises(RetryLater) as refused:
        client.limits()
    assert refused.value.code == "timeout"


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT Id FROM Nope", "INVALID_TYPE"),
        ("SELECT Nope FROM Lead", "INVALID_FIELD"),
        ("SELECT Id FRM Lead", "MALFORMED_QUERY"),
    ],
)
def test_bad_queries_are_rejected(make_salesforce_client: MakeClient, soql: str, code: str) -> None:
    with pytest.raises(RequestRejected) as refused:
        next(make_salesforce_client().query(soql))
    assert refused.value.code == code and refused.value.http_status == 400


def test_an_expired_cursor_is_rejected_with_its_code(
    salesforce_sim: SalesforceSimulator, make_salesforce_client: MakeClient
) -> None:
    client = make_salesforce_client()
    first = next(client.query("SELECT Id FROM Contact"))
    salesforce_sim.cursors.expire_all()
    with pytest.raises(RequestRejected) as refused:
        client.query_page(str(first.next_records_url))
    assert refused.value.code == "INVALID_QUERY_LOCATOR"


# --- budgets and logs -----------------------------------------------------------------------------
def test_every_call_is_counted_and_the_usage_header_observed(
    salesforce_sim: SalesforceSimulator, make_salesforce_client: MakeClient, salesforce_limiter: LocalLimiter
) -> None:
    client = make_salesforce_client()
    salesforce_sim.faults = FaultPlan(bursts={"early_token_expiry": Burst(every=1000, length=1)})
    for _ in client.query("SELECT Id FROM Contact"):
        pass
    client.limits()
    snapshot = salesforce_limiter.snapshot()
    assert snapshot.salesforce_used_24h == len(data_calls(salesforce_sim))  # the 401 and the re-send both count
    assert snapshot.salesforce_org_used == salesforce_sim.usage.used and snapshot.salesforce_org_max == 100_000


def test_a_spent_local_budget_refuses_before_sending(
    salesforce_sim: SalesforceSimulator, make_salesforce_client: MakeClient
) -> None:
    client = make_salesforce_client(limiter=LocalLimiter(LimiterConfig(salesforce_daily_limit=2)))
    client.limits()
    client.limits()
    with pytest.raises(BudgetExhausted):
        client.limits()
    assert len(data_calls(salesforce_sim)) == 2


def test_one_info_line_per_call_without_secrets_or_values(
    salesforce_sim: SalesforceSimulator, make_salesforce_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="clients.salesforce")
    client = make_salesforce_client()
    next(client.query("SELECT Id FROM Lead WHERE Email = 'secret.person@example.com'"))
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and lines[0].startswith("salesforce POST /services/oauth2/token 200")
    assert lines[1].startswith("salesforce GET /services/data/v62.0/query/ 200")
    text = "\n".join(lines)
    assert "secret.person" not in text and "demo-secret" not in text and "!" not in text
