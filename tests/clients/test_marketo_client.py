"""MarketoClient against the Marketo simulator over real sockets: tokens, translation, matching, paging."""

from __future__ import annotations

import logging
import socket
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from clients import marketo as marketo_module
from clients.errors import (
    AuthenticationFailed,
    BudgetExhausted,
    RequestRejected,
    RetryLater,
    SessionExpired,
    Throttled,
)
from clients.limiter import LimiterConfig, LocalLimiter
from clients.marketo import MarketoClient
from clients.token_cache import LocalTokenCache, RedisTokenCache
from simulators.common.faults import Burst, FaultPlan


def _ops(sim: Any) -> list[str]:
    return [e.operation if e.error_code is None else f"{e.operation}:{e.error_code}" for e in sim.log.all()]


def _seed_owner(client: MarketoClient) -> None:
    client.sync("salespersons", [{"externalSalesPersonId": "005A", "email": "owner@example.com"}])
    client.sync("companies", [{"externalCompanyId": "001A", "company": "Acme", "externalSalesPersonId": "005A"}])


# --- tokens ------------------------------------------------------------------------------
def test_two_clients_sharing_a_token_cache_ask_identity_once(make_marketo_client: Any, marketo_client_sim: Any) -> None:
    cache = LocalTokenCache()
    first, second = make_marketo_client(token_cache=cache), make_marketo_client(token_cache=cache)
    first.usage_today()
    second.usage_today()
    assert _ops(marketo_client_sim) == ["identity", "usage", "usage"]
    assert first.token_key == second.token_key and "demo-secret" not in first.token_key


def test_token_is_refreshed_before_expiry_without_a_602(marketo_sim_factory: Any, make_marketo_client: Any) -> None:
    sim = marketo_sim_factory(token_lifetime=61.5)  # Identity says 61 s: fresh for one second only
    client = make_marketo_client(sim)
    client.usage_today()
    client.usage_today()
    time.sleep(1.1)
    client.usage_today()  # under 60 s left: ask Identity first (it returns the same token)
    client.usage_today()  # asked a moment ago: no second Identity call
    assert _ops(sim) == ["identity", "usage", "usage", "identity", "usage", "usage"]


def test_a_token_that_runs_out_is_replaced_before_use(marketo_sim_factory: Any, make_marketo_client: Any) -> None:
    sim = marketo_sim_factory(token_lifetime=1.5)
    client = make_marketo_client(sim)
    client.usage_today()
    time.sleep(1.6)
    client.usage_today()
    assert _ops(sim) == ["identity", "usage", "identity", "usage"]
    assert sim.ctx.identity.issued == 2


def test_an_early_expired_token_is_renewed_and_the_call_resent_once(
    marketo_client_sim: Any, marketo_client: MarketoClient
) -> None:
    marketo_client.usage_today()
    marketo_client_sim.faults = FaultPlan(bursts={"early_token_expiry": Burst(every=1000, length=1)})
    assert marketo_client.usage_today() == 2
    assert _ops(marketo_client_sim) == ["identity", "usage", "usage:602", "identity", "usage"]


def test_a_token_refused_twice_is_session_expired(marketo_client_sim: Any, marketo_client: MarketoClient) -> None:
    marketo_client_sim.faults = FaultPlan(rates={"early_token_expiry": 1.0})
    with pytest.raises(SessionExpired) as caught:
        marketo_client.usage_today()
    assert caught.value.code == "602"
    assert _ops(marketo_client_sim) == ["identity", "usage:602", "identity", "usage:602"]


def test_bad_credentials_are_authentication_failed_without_the_secret(make_marketo_client: Any) -> None:
    client = make_marketo_client(client_secret="wrong-secret-value")
    with pytest.raises(AuthenticationFailed) as caught:
        client.usage_today()
    assert caught.value.http_status == 401 and "wrong-secret-value" not in str(caught.value)


def test_a_dead_token_fetcher_costs_a_bounded_wait_then_a_retry(
    make_marketo_client: Any,
    marketo_client_sim: Any,
    redis_client: Any,
    key_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A worker killed while fetching the token leaves the refresh lock in Redis. Others wait a
    # bounded time for it, then give their slot back with a RetryLater instead of failing.
    monkeypatch.setattr(marketo_module, "TOKEN_WAIT_SECONDS", 0.3)
    client = make_marketo_client(token_cache=RedisTokenCache(redis_client, prefix=key_prefix))
    redis_client.set(f"{key_prefix}:{client.token_key}:lock", "dead-worker", px=1500)
    started = time.monotonic()
    with pytest.raises(RetryLater) as caught:
        client.usage_today()
    assert caught.value.code == "token-wait" and time.monotonic() - started < 1.2
    assert _ops(marketo_client_sim) == []
    time.sleep(1.3)  # the dead holder's lock runs out on its own
    assert client.usage_today() == 1
    assert _ops(marketo_client_sim) == ["identity", "usage"]


# --- the send guard ----------------------------------------------------------------------
def test_the_send_guard_runs_after_the_token_right_before_each_request(
    marketo_client_sim: Any, marketo_client: MarketoClient
) -> None:
    seen_before: list[list[str]] = []
    with marketo_client.guard_sends(lambda: seen_before.append(_ops(marketo_client_sim))):
        marketo_client.usage_today()
        marketo_client.usage_today()
    marketo_client.usage_today()  # outside the block: no guard
    assert seen_before == [["identity"], ["identity", "usage"]]


def test_a_send_guard_that_refuses_stops_the_request_unsent(
    marketo_client_sim: Any, marketo_client: MarketoClient
) -> None:
    class Refused(Exception):
        pass

    def refuse() -> None:
        raise Refused("the lease is gone")

    with pytest.raises(Refused), marketo_client.guard_sends(refuse):
        marketo_client.sync("salespersons", [{"externalSalesPersonId": "005A", "email": "owner@example.com"}])
    assert _ops(marketo_client_sim) == ["identity"]
    assert marketo_client.usage_today() == 1  # the limiter's slot was given back


# --- translation -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fault", "error", "code", "retry_after"),
    [
        ("burst_606", Throttled, "606", 20.0),
        ("burst_615", Throttled, "615", 1.0),
        ("temporarily_unavailable_608", RetryLater, "608", 30.0),
        ("applied_604", RetryLater, "604", 5.0),
        ("http_502", RetryLater, "502", 10.0),
        ("http_503", RetryLater, "503", 10.0),
    ],
    ids=["606", "615", "608", "604", "502", "503"],
)
def test_response_codes_become_the_right_exception(
    marketo_client_sim: Any, marketo_client: MarketoClient, fault: str, error: type, code: str, retry_after: float
) -> None:
    marketo_client.usage_today()
    marketo_client_sim.faults = FaultPlan(rates={fault: 1.0})
    with pytest.raises(error) as caught:
        marketo_client.usage_today()
    assert caught.value.code == code and caught.value.retry_after == retry_after


@pytest.mark.parametrize("fault", ["http_502", "timeout"])
def test_a_create_whose_answer_was_lost_is_held_until_marketos_server_timeout(
    marketo_client_sim: Any, make_marketo_client: Any, fault: str
) -> None:
    # The simulator's timeout fault applies the write after 3 s, when the client (1 s) has
    # given up: the answer is lost, the write is not. A copy sent before the server is done
    # with the first is how the same new lead gets created twice.
    client = make_marketo_client(timeout=1.0, server_timeout=30.0)
    client.usage_today()
    marketo_client_sim.faults = FaultPlan(rates={fault: 1.0}, timeout_seconds=3.0)
    started = time.monotonic()
    with pytest.raises(RetryLater) as lost:
        client.sync_leads([{"externalPersonId": "00Q000000000001AAA", "email": "held@example.com"}])
    assert 30.0 - (time.monotonic() - started) - 0.5 < lost.value.retry_after <= 30.0
    assert "not re-sent for" in str(lost.value)
    # A read whose answer was lost changes nothing: it is asked again at the usual pace.
    with pytest.raises(RetryLater) as read:
        client.usage_today()
    assert read.value.retry_after == 10.0


def test_a_create_the_limiter_holds_back_waits_only_for_the_limiter(make_marketo_client: Any) -> None:
    # Never sent, so nothing can be in flight: the wait is the limiter's, not the server timeout.
    limiter = LocalLimiter(LimiterConfig(marketo_calls_per_window=1, marketo_max_concurrency=10))
    client = make_marketo_client(limiter=limiter, server_timeout=90.0)
    client.sync("salespersons", [{"externalSalesPersonId": "005A", "email": "owner@example.com"}])
    with pytest.raises(Throttled) as held_back:
        client.sync("salespersons", [{"externalSalesPersonId": "005B", "email": "other@example.com"}])
    assert held_back.value.code == "limiter" and held_back.value.retry_after <= 21.0  # a window and its margin


def test_a_606_the_limiter_did_not_foresee_pauses_every_call_for_a_window(
    marketo_client_sim: Any, marketo_client: MarketoClient
) -> None:
    marketo_client.usage_today()
    marketo_client_sim.faults = FaultPlan(bursts={"burst_606": Burst(every=1000, length=1)})
    with pytest.raises(Throttled) as refused:
        marketo_client.usage_today()
    assert refused.value.code == "606"
    with pytest.raises(Throttled, match="606") as held_back:
        marketo_client.usage_today()  # refused by the limiter: Marketo's window is left to drain
    assert held_back.value.code == "limiter" and held_back.value.retry_after > 19
    assert _ops(marketo_client_sim) == ["identity", "usage", "usage:606"]


def test_daily_quota_is_budget_exhausted_until_midnight_chicago(
    marketo_sim_factory: Any, make_marketo_client: Any, marketo_limiter: LocalLimiter
) -> None:
    sim = marketo_sim_factory(daily_quota=2)
    client = make_marketo_client(sim)
    client.usage_today()
    client.usage_today()
    with pytest.raises(BudgetExhausted) as caught:
        client.usage_today()
    assert caught.value.code == "607" and 0 < caught.value.retry_after <= 25 * 3600
    assert marketo_limiter.snapshot().marketo_used_today == marketo_limiter.config.marketo_daily_quota


def test_718_and_unsupported_filters_are_request_rejected(marketo_client: MarketoClient) -> None:
    with pytest.raises(RequestRejected) as missing_owner:
        marketo_client.sync(
            "opportunities", [{"externalOpportunityId": "006A", "name": "X", "externalSalesPersonId": "005Q"}]
        )
    with pytest.raises(RequestRejected) as bad_filter:
        list(marketo_client.get("leads", "firstName", ["Ann"]))
    assert missing_owner.value.code == "718" and bad_filter.value.code == "1011"


def test_a_held_response_times_out_as_retry_later(marketo_client_sim: Any, make_marketo_client: Any) -> None:
    client = make_marketo_client(timeout=0.3)
    client.usage_today()
    marketo_client_sim.faults = FaultPlan(rates={"timeout": 1.0}, timeout_seconds=1.0)
    with pytest.raises(RetryLater) as caught:
        client.usage_today()
    assert caught.value.code == "timeout"


def test_an_unreachable_instance_is_retry_later(make_marketo_client: Any) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = make_marketo_client(base_url=f"http://127.0.0.1:{port}")
    with pytest.raises(RetryLater):
        client.usage_today()


def test_a_call_the_limiter_refuses_never_reaches_marketo(marketo_client_sim: Any, make_marketo_client: Any) -> None:
    limiter = LocalLimiter(LimiterConfig(marketo_calls_per_window=1))
    client = make_marketo_client(limiter=limiter)
    client.usage_today()
    with pytest.raises(Throttled) as caught:
        client.usage_today()
    assert caught.value.code == "limiter"
    assert _ops(marketo_client_sim) == ["identity", "usage"]


def test_more_than_300_records_is_a_value_error_before_any_call(
    marketo_client_sim: Any, marketo_client: MarketoClient
) -> None:
    with pytest.raises(ValueError, match="300"):
        marketo_client.sync_leads([{"externalPersonId": str(i)} for i in range(301)])
    assert marketo_client_sim.log.all() == []


# --- results -----------------------------------------------------------------------------
def test_seq_matching_keeps_skipped_records_in_place(marketo_client: MarketoClient) -> None:
    _seed_owner(marketo_client)
    results = marketo_client.sync(
        "companies",
        [
            {"externalCompanyId": "001B", "company": "Beta", "externalSalesPersonId": "005A"},
            {"externalCompanyId": "001C", "externalSalesPersonId": "005Q"},
            {"externalCompanyId": "001A", "company": "Acme 2"},
        ],
    )
    assert [(r.index, r.status, r.ok) for r in results] == [
        (0, "created", True),
        (1, "skipped", False),
        (2, "updated", True),
    ]
    assert results[1].reasons[0].code == "1013" and results[1].marketo_id is None
    assert results[0].marketo_id is not None and results[0].marketo_id.isdigit()


def test_leads_are_matched_by_position_with_skips_in_the_middle(marketo_client: MarketoClient) -> None:
    results = marketo_client.sync_leads(
        [
            {"externalPersonId": "003A", "email": "a@example.com"},
            {"externalPersonId": "003B", "priority": 5},
            {"externalPersonId": "003C", "email": "c@example.com"},
        ]
    )
    assert [r.status for r in results] == ["created", "skipped", "created"]
    assert results[1].reasons[0].code == "1003" and results[2].index == 2
    rows = list(marketo_client.get("leads", "externalPersonId", ["003A", "003C"], fields=["email", "externalPersonId"]))
    assert {row["id"] for row in rows} == {int(results[0].marketo_id or 0), int(results[2].marketo_id or 0)}


def test_long_filter_lists_switch_to_post_method_get(marketo_client_sim: Any, marketo_client: MarketoClient) -> None:
    marketo_client.sync_leads([{"externalPersonId": f"003{i:027d}"} for i in range(300)])
    values = [f"003{i:027d}" for i in range(300)] + [f"missing-{i:040d}" for i in range(150)]
    rows = list(marketo_client.get("leads", "externalPersonId", values, fields=["externalPersonId"]))
    assert len(rows) == 300
    gets = [e for e in marketo_client_sim.log.all() if e.operation == "get"]
    assert [(e.method, e.detail.get("_method"), e.http_status, e.records) for e in gets] == [
        ("POST", "GET", 200, 300),
        ("GET", None, 200, 150),
    ]


def test_paging_follows_next_page_tokens(marketo_client_sim: Any, marketo_client: MarketoClient) -> None:
    ids = [str(i) for i in range(1, 31)]
    rows = list(marketo_client.get("leads", "id", ids))
    assert [row["id"] for row in rows] == list(range(1, 31))
    opportunities = [{"externalOpportunityId": f"006{i}", "name": f"Deal {i}"} for i in range(5)]
    marketo_client.sync("opportunities", opportunities)
    found = list(
        marketo_client.get(
            "opportunities", "externalOpportunityId", [o["externalOpportunityId"] for o in opportunities]
        )
    )
    assert len(found) == 5


def test_roles_by_compound_key(marketo_client_sim: Any, marketo_client: MarketoClient) -> None:
    marketo_client.sync("opportunities", [{"externalOpportunityId": "006A", "name": "Chairs"}])
    lead_id = int(marketo_client.sync_leads([{"externalPersonId": "003A"}])[0].marketo_id or 0)
    keys = [{"externalOpportunityId": "006A", "leadId": lead_id, "role": role} for role in ("Buyer", "User")]
    assert all(r.ok for r in marketo_client.sync("roles", keys))
    absent = {"externalOpportunityId": "006A", "leadId": lead_id, "role": "Nobody"}
    found = list(marketo_client.get_roles([*keys, absent], fields=["role", "leadId"]))
    assert sorted(row["role"] for row in found) == ["Buyer", "User"]
    entry = [e for e in marketo_client_sim.log.all() if e.operation == "get"][-1]
    assert entry.method == "POST" and entry.detail["_method"] == "GET" and entry.obj == "roles"


def test_deletes_merge_and_describe(marketo_client: MarketoClient) -> None:
    _seed_owner(marketo_client)
    made = marketo_client.sync_leads(
        [{"email": "w@example.com"}, {"email": "l@example.com", "title": "VP"}],
        action="createDuplicate",
        lookup_field="email",
    )
    winner, loser = (int(r.marketo_id or 0) for r in made)
    marketo_client.merge_leads(winner, [loser])
    assert [r.status for r in marketo_client.delete_leads([loser, winner])] == ["skipped", "deleted"]
    removed = marketo_client.delete("companies", [{"externalCompanyId": "001A"}, {"externalCompanyId": "001Z"}])
    assert [r.status for r in removed] == ["deleted", "skipped"] and removed[1].reasons[0].code == "1013"
    assert marketo_client.describe("roles")["dedupeFields"] == ["externalOpportunityId", "leadId", "role"]
    assert ["externalPersonId"] in marketo_client.describe("leads")["searchableFields"]


def test_activities_pages_and_types(marketo_client_sim: Any, marketo_client: MarketoClient) -> None:
    marketo_client.sync_leads([{"externalPersonId": f"003{i}"} for i in range(50)])
    token = marketo_client.paging_token(datetime.now(UTC) - timedelta(minutes=5))
    marketo_client_sim.store.advance_msi(2)
    types = {t["name"]: t["id"] for t in marketo_client.activity_types()}
    page = marketo_client.activities([types["Interesting Moment"], types["Change Score"]], token)
    assert page.activities and not page.more_result
    assert {a["activityTypeId"] for a in page.activities} == {22, 46}
    again = marketo_client.activities([46, 22], page.next_page_token)
    assert again.activities == []


def test_one_info_line_per_call_and_no_secrets(marketo_client: MarketoClient, caplog: Any) -> None:
    with caplog.at_level(logging.DEBUG):
        marketo_client.sync_leads([{"externalPersonId": "003A", "email": "a@example.com"}])
        list(marketo_client.get("leads", "externalPersonId", ["003A"]))
    mine = [r for r in caplog.records if r.name == "clients.marketo"]
    assert [r.getMessage().split(" ")[1:3] for r in mine] == [
        ["GET", "/identity/oauth/token"],
        ["POST", "/rest/v1/leads.json"],
        ["GET", "/rest/v1/leads.json"],
    ]
    assert "records=1" in mine[1].getMessage() and "-> 200" in mine[1].getMessage()
    everything = "\n".join(r.getMessage() for r in caplog.records)
    token = marketo_client._tokens.get(marketo_client.token_key)
    assert token is not None and token.token not in everything
    assert "demo-secret" not in everything and "a@example.com" not in everything
