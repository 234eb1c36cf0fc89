"""Marketo simulator: rate window, concurrency, daily quota, HTTP-level limits, input size."""

from __future__ import annotations

import threading
import time
from typing import Any

import requests


def _usage(mkto: Any) -> dict[str, Any]:
    response = mkto.session.get(mkto.sim.url + "/rest/v1/stats/usage.json", headers=mkto.headers(), timeout=10)
    body: dict[str, Any] = response.json()
    return body


def test_call_101_in_the_window_is_606_and_the_window_slides(marketo_sim_factory: Any, mkto_for: Any) -> None:
    sim = marketo_sim_factory(time_scale=10)  # the 20 s window lasts 2 s
    mkto = mkto_for(sim)
    mkto.token()  # identity calls are not counted
    started = time.time()
    answers = [_usage(mkto) for _ in range(100)]
    refused = _usage(mkto)
    assert time.time() - started < 1.8, "the test machine is too slow for a 2 s window"
    assert all(answer["success"] for answer in answers)
    assert refused["success"] is False
    assert refused["errors"][0] == {"code": "606", "message": "Max rate limit '100' exceeded with in '20' secs"}
    time.sleep(max(0.0, started + 2.3 - time.time()))
    assert _usage(mkto)["success"] is True


def test_the_eleventh_concurrent_call_is_615(marketo_sim_factory: Any, mkto_for: Any) -> None:
    sim = marketo_sim_factory(latency_per_call=0.6)
    mkto = mkto_for(sim)
    headers = mkto.headers()
    barrier = threading.Barrier(11)
    codes: list[str | None] = []
    lock = threading.Lock()

    def call() -> None:
        barrier.wait()
        body = requests.get(
            sim.url + "/rest/v1/leads.json",
            params={"filterType": "id", "filterValues": "1"},
            headers=headers,
            timeout=10,
        ).json()
        with lock:
            codes.append(None if body["success"] else body["errors"][0]["code"])

    threads = [threading.Thread(target=call) for _ in range(11)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert codes.count("615") == 1 and codes.count(None) == 10
    assert sim.limits.snapshot()["peak_in_flight"] == 10


def test_daily_quota_answers_607_and_asterisked_codes_do_not_count(marketo_sim_factory: Any, mkto_for: Any) -> None:
    sim = marketo_sim_factory(daily_quota=3)
    mkto = mkto_for(sim)
    missing = requests.get(sim.url + "/rest/v1/stats/usage.json", timeout=10).json()  # 600: not counted
    bad_method = mkto.session.put(sim.url + "/rest/v1/leads.json", headers=mkto.headers(), timeout=10).json()
    assert missing["errors"][0]["code"] == "600" and bad_method["errors"][0]["code"] == "605"
    answers = [_usage(mkto) for _ in range(4)]
    assert [a["success"] for a in answers] == [True, True, True, False]
    assert answers[3]["errors"][0] == {"code": "607", "message": "Daily quota reached"}
    assert answers[2]["result"][0]["total"] == 3


def test_uri_over_8_kb_is_414_and_body_over_1_mb_is_413(mkto: Any) -> None:
    url = mkto.sim.url + "/rest/v1/leads.json"
    long_get = requests.get(
        url, params={"filterType": "email", "filterValues": "x" * 9000}, headers=mkto.headers(), timeout=10
    )
    big_post = requests.post(url, json={"input": [{"email": "a" * 1_100_000}]}, headers=mkto.headers(), timeout=10)
    assert long_get.status_code == 414 and long_get.headers["Content-Type"].startswith("text/html")
    assert big_post.status_code == 413
    long_form = requests.post(
        url,
        params={"_method": "GET"},
        data={"filterType": "email", "filterValues": "x" * 9000},
        headers=mkto.headers(),
        timeout=10,
    )
    assert long_form.status_code == 200 and long_form.json()["success"] is True
    statuses = [entry.http_status for entry in mkto.sim.log.all() if entry.operation != "identity"]
    assert statuses == [414, 413, 200]


def test_more_than_300_records_are_refused_at_request_level(mkto: Any) -> None:
    body = mkto.sync("leads", [{"email": f"p{i}@example.com"} for i in range(301)])
    assert body["success"] is False and body["errors"][0]["code"] == "1003"
    assert mkto.sim.store.counts()["leads"] == 20  # nothing written


def test_wrong_content_type_is_612_and_bad_json_is_609(mkto: Any) -> None:
    url = mkto.sim.url + "/rest/v1/companies.json"
    as_text = requests.post(url, data="{}", headers={**mkto.headers(), "Content-Type": "text/plain"}, timeout=10)
    json_type = {**mkto.headers(), "Content-Type": "application/json"}
    as_junk = requests.post(url, data="{nope", headers=json_type, timeout=10)
    unknown = mkto.get("/rest/v1/nothing.json")
    assert as_text.json()["errors"][0]["code"] == "612"
    assert as_junk.json()["errors"][0]["code"] == "609"
    assert unknown["errors"][0]["code"] == "610"
