"""Marketo simulator: Identity and token checks, as documented by Adobe (DEV/authentication)."""

from __future__ import annotations

import time
from typing import Any

import requests


def test_identity_returns_the_same_token_with_its_remaining_life(mkto: Any) -> None:
    first = mkto.identity().json()
    time.sleep(1.1)
    second = mkto.identity().json()
    assert first["token_type"] == "bearer" and first["scope"]
    assert second["access_token"] == first["access_token"]
    assert second["expires_in"] < first["expires_in"] <= 3600


def test_identity_also_answers_post_with_query_parameters(mkto: Any) -> None:
    response = requests.post(
        mkto.sim.url + "/identity/oauth/token",
        params={"grant_type": "client_credentials", "client_id": "msi-sync-demo", "client_secret": "demo-secret"},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.json()["access_token"] == mkto.token()


def test_bad_credentials_answer_401_with_the_oauth_body(mkto: Any) -> None:
    wrong_secret = mkto.identity(client_secret="nope")
    unknown_client = mkto.identity(client_id="who")
    assert wrong_secret.status_code == 401
    assert wrong_secret.json() == {"error": "invalid_client", "error_description": "Bad client credentials"}
    assert unknown_client.status_code == 401
    assert unknown_client.json()["error"] == "unauthorized"


def test_identity_calls_do_not_count_against_the_quota(mkto: Any) -> None:
    for _ in range(3):
        mkto.identity()
    usage = mkto.get("/rest/v1/stats/usage.json")
    assert usage["result"][0]["total"] == 1  # the usage call itself


def test_only_the_bearer_header_authenticates(mkto: Any) -> None:
    url = mkto.sim.url + "/rest/v1/leads.json"
    params = {"filterType": "id", "filterValues": "1", "access_token": mkto.token()}
    by_parameter = requests.get(url, params=params, timeout=10).json()
    by_form = requests.post(url, params={"_method": "GET"}, data=params, timeout=10).json()
    by_header = mkto.get("/rest/v1/leads.json", filterType="id", filterValues="1")
    assert by_parameter["success"] is False and by_parameter["errors"][0]["code"] == "600"
    assert by_form["errors"][0]["code"] == "600"
    assert by_header["success"] is True and by_header["result"][0]["id"] == 1


def test_unknown_token_is_601_and_expired_token_602_both_http_200(marketo_sim_factory: Any, mkto_for: Any) -> None:
    sim = marketo_sim_factory(token_lifetime=3600, time_scale=3600)  # tokens live one real second
    mkto = mkto_for(sim)
    token = mkto.token()
    usage = sim.url + "/rest/v1/stats/usage.json"
    unknown = requests.get(usage, headers={"Authorization": "Bearer nope:sim"}, timeout=10)
    time.sleep(1.2)
    expired = requests.get(usage, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert unknown.status_code == 200
    assert unknown.json()["errors"][0] == {"code": "601", "message": "Access token invalid"}
    assert expired.status_code == 200 and expired.json()["errors"][0]["code"] == "602"
    assert mkto.identity().json()["access_token"] != token  # a new token once the old one died
    assert sim.limits.snapshot()["used_today"] == 0  # 601/602 are not counted


def test_request_log_records_identity_and_rest_calls(mkto: Any) -> None:
    mkto.get("/rest/v1/leads.json", filterType="id", filterValues="1,2")
    entries = mkto.sim.log.all()
    assert [e.operation for e in entries] == ["identity", "get"]
    assert entries[1].path == "/rest/v1/leads.json" and entries[1].records == 2 and entries[1].obj == "leads"
    assert entries[1].detail == {"filterType": "id"}


def test_tls_serves_https_with_its_own_ca_bundle(marketo_sim_factory: Any, tmp_path: Any) -> None:
    sim = marketo_sim_factory(tls=True, tls_dir=tmp_path)
    assert sim.url.startswith("https://localhost:") and sim.ca_bundle.exists()
    params = {"grant_type": "client_credentials", "client_id": "msi-sync-demo", "client_secret": "demo-secret"}
    response = requests.get(sim.url + "/identity/oauth/token", params=params, verify=str(sim.ca_bundle), timeout=10)
    assert response.status_code == 200 and response.json()["access_token"].endswith(":sim")
