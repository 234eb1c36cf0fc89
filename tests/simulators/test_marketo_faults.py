"""Marketo simulator: injected faults (FaultPlan kinds) and the control API."""

from __future__ import annotations

import time
from typing import Any

import requests

from simulators.common.faults import Burst, FaultPlan


def test_applied_604_writes_then_answers_request_timeout(mkto: Any) -> None:
    mkto.sim.faults = FaultPlan(rates={"applied_604": 1.0})
    body = mkto.sync("salespersons", [{"externalSalesPersonId": "005A", "email": "a@example.com"}])
    assert body["success"] is False and body["errors"][0] == {"code": "604", "message": "Request time-out"}
    mkto.sim.faults = FaultPlan()
    found = mkto.get("/rest/v1/salespersons.json", filterType="externalSalesPersonId", filterValues="005A")
    assert len(found["result"]) == 1
    assert mkto.sim.limits.snapshot()["used_today"] == 1  # the 604 was not counted, the get was


def test_gateway_faults_and_bursts(mkto: Any) -> None:
    url = mkto.sim.url + "/rest/v1/stats/usage.json"
    mkto.sim.faults = FaultPlan(rates={"http_502": 1.0})
    assert requests.get(url, headers=mkto.headers(), timeout=10).status_code == 502
    mkto.sim.faults = FaultPlan(bursts={"burst_606": Burst(every=3, length=1)})
    codes = [(mkto.get("/rest/v1/stats/usage.json")["errors"] or [{}])[0].get("code") for _ in range(4)]
    assert codes == ["606", None, None, "606"]
    mkto.sim.faults = FaultPlan(rates={"burst_615": 1.0})
    assert mkto.get("/rest/v1/stats/usage.json")["errors"][0]["code"] == "615"
    mkto.sim.faults = FaultPlan(rates={"temporarily_unavailable_608": 1.0})
    assert mkto.get("/rest/v1/stats/usage.json")["errors"][0]["code"] == "608"


def test_early_token_expiry_kills_the_token(mkto: Any) -> None:
    token = mkto.token()
    mkto.sim.faults = FaultPlan(bursts={"early_token_expiry": Burst(every=1000, length=1)})
    assert mkto.get("/rest/v1/stats/usage.json")["errors"][0]["code"] == "602"
    assert mkto.identity().json()["access_token"] != token


def test_timeout_fault(mkto: Any) -> None:
    mkto.sim.faults = FaultPlan(rates={"timeout": 1.0}, timeout_seconds=0.5)
    started = time.time()
    try:
        mkto.session.get(mkto.sim.url + "/rest/v1/stats/usage.json", headers=mkto.headers(), timeout=0.2)
        raised = False
    except requests.Timeout:
        raised = True
    assert raised and time.time() - started < 0.45


def test_control_api_faults_config_state_records_and_reset(mkto: Any) -> None:
    base = mkto.sim.url + "/_sim"
    plan = {"rates": {"http_503": 0.5}, "bursts": {}, "seed": 3, "timeout_seconds": 1.0}
    assert requests.put(base + "/faults", json=plan, timeout=10).json() == plan
    assert mkto.sim.faults.rates == {"http_503": 0.5}
    requests.put(base + "/faults", json={}, timeout=10)
    config = requests.put(base + "/config", json={"latency_per_call": 0.01, "daily_quota": 10}, timeout=10).json()
    assert config["latency_per_call"] == 0.01 and config["daily_quota"] == 10 and "client_secret" not in config
    assert requests.put(base + "/config", json={"client_id": "x"}, timeout=10).status_code == 400
    requests.put(base + "/config", json={"latency_per_call": 0, "daily_quota": 50000}, timeout=10)
    mkto.sync("leads", [{"email": "new@example.com"}])
    state = requests.get(base + "/state", timeout=10).json()
    assert state["records"]["leads"] == 21 and state["limits"]["used_today"] == 1
    page = requests.get(base + "/records/leads", params={"offset": 15, "limit": 10}, timeout=10).json()
    assert [r["id"] for r in page["records"]] == [16, 17, 18, 19, 20, 21] and page["next_offset"] is None
    log = requests.get(base + "/requests", params={"since": 0}, timeout=10).json()
    assert log["requests"][-1]["operation"] == "sync" and log["requests"][-1]["record_codes"] == {"created": 1}
    assert requests.post(base + "/reset", timeout=10).json()["records"]["leads"] == 20
