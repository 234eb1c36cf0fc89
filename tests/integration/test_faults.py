"""What production does to the service, done for real: killed workers, emptied Redis, a restarted
PostgreSQL, every simulator fault at once, two schedulers. Each time, Marketo must end exactly
as the org says, with nothing duplicated and nothing lost.
"""

from __future__ import annotations

import itertools
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from sqlalchemy import func, select

from models.db import session_scope
from models.records import Failure
from models.runs import Chunk, StagedRecord, SyncRun
from simulators.common.faults import Burst, FaultPlan
from tests.integration.conftest import REPO, SHORT_VISIBILITY
from tests.integration.oracle import actual_state, differences, expected_state
from tests.integration.servers import PrivatePostgres, PrivateRedis
from tests.request_log import max_concurrent, max_in_any_window

# Short leases and timeouts so recovery happens within a test's patience.
QUICK = {"CHUNK_LEASE_SECONDS": "5", "MARKETO_TIMEOUT_SECONDS": "3", "SALESFORCE_TIMEOUT_SECONDS": "3"}
# A few milliseconds per Marketo call keeps a cycle running long enough to be interrupted.
SLOW_MARKETO = {"latency_per_call": 0.15, "latency_per_record": 0.0005}


def assert_exact(stack: Any) -> None:
    expected = expected_state(stack.salesforce.org)
    actual, duplicates = actual_state(stack.marketo.store)
    assert duplicates == []
    assert differences(expected, actual) == []


# Failures a clean generated org legitimately has: Salesforce keeps roles of deleted contacts.
REALLY_BAD = {"CONTACT_DELETED"}


def open_errors(stack: Any) -> list[tuple[str, str, str]]:
    """Open failures other than the ones the org's own data deserves."""
    with session_scope(stack.database_url) as session:
        return [
            (f.object_type, f.code, f.message)
            for f in session.scalars(select(Failure).where(Failure.kind == "error", Failure.status == "open"))
            if f.code not in REALLY_BAD
        ]


def chunks_ended(stack: Any) -> int:
    with session_scope(stack.database_url) as session:
        return int(
            session.scalar(select(func.count()).select_from(Chunk).where(Chunk.status.in_(("done", "failed")))) or 0
        )


def wait_until(condition: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.1)


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    yield server
    server.stop()


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    yield server
    server.stop()


def test_workers_killed_at_random_points_lose_and_duplicate_nothing(stack_factory: Any) -> None:
    stack = stack_factory(size=1500, seed=31, extra_env=QUICK, marketo_args=SLOW_MARKETO)
    worker = stack.start_worker(concurrency=6)
    answer = stack.start_cycle()
    rng = random.Random(31)
    kills = 0
    for _ in range(3):
        time.sleep(rng.uniform(0.5, 2.5))
        with session_scope(stack.database_url) as session:
            if session.get(SyncRun, answer["run"]).status != "running":  # type: ignore[union-attr]
                break
        stack.kill_worker(worker)  # SIGKILL to the worker and every pool process at once
        kills += 1
        worker = stack.start_worker(concurrency=6)
    assert kills >= 2, "the cycle ended before the worker could be killed twice; slow it down"
    run = stack.wait_for_run(answer["run"], timeout=240, sweep_every=1)
    assert run.status == "succeeded", run.error
    assert_exact(stack)
    assert open_errors(stack) == []


def test_redis_restarted_empty_mid_cycle(stack_factory: Any, private_redis: PrivateRedis) -> None:
    stack = stack_factory(size=1200, seed=32, extra_env=QUICK, marketo_args=SLOW_MARKETO, redis_url=private_redis.url)
    stack.start_worker(concurrency=6)
    stack.supervise()
    answer = stack.start_cycle()
    wait_until(lambda: chunks_ended(stack) >= 3)
    private_redis.restart_empty()  # queued messages, chord counters, limiter and token cache: all gone
    run = stack.wait_for_run(answer["run"], timeout=240, sweep_every=1)
    assert run.status == "succeeded", run.error
    assert_exact(stack)
    assert open_errors(stack) == []


def test_postgres_restarted_mid_cycle(stack_factory: Any, private_postgres: PrivatePostgres) -> None:
    stack = stack_factory(
        size=1200, seed=33, extra_env=QUICK, marketo_args=SLOW_MARKETO, database_url=private_postgres.url
    )
    stack.start_worker(concurrency=6)
    stack.supervise()
    answer = stack.start_cycle()
    wait_until(lambda: chunks_ended(stack) >= 3)
    private_postgres.restart()
    run = stack.wait_for_run(answer["run"], timeout=240, sweep_every=1)
    assert run.status == "succeeded", run.error
    assert_exact(stack)
    assert open_errors(stack) == []


def test_every_fault_at_once_converges_within_budgets_and_bounded_retries(stack_factory: Any) -> None:
    window = 5.0  # Marketo's 20 s window at this test's time scale
    marketo_faults = FaultPlan.from_dict(
        {
            "rates": {
                "http_502": 0.08,
                "http_503": 0.08,
                "timeout": 0.04,
                "applied_604": 0.1,
                "early_token_expiry": 0.05,
            },
            # Bursts on top of the rates make sure each kind fires at least once in a run this
            # short, whatever order the concurrent calls happen to arrive in.
            "bursts": {
                "burst_606": {"every": 37, "length": 2},
                "burst_615": {"every": 41, "length": 2},
                "http_502": {"every": 29, "length": 1, "start": 5},
                "http_503": {"every": 31, "length": 1, "start": 9},
                "applied_604": {"every": 11, "length": 1, "start": 2},
            },
            "seed": 7,
            "timeout_seconds": 5,
        }
    )
    salesforce_faults = FaultPlan.from_dict(
        {
            "rates": {"timeout": 0.03, "early_token_expiry": 0.05},
            "bursts": {
                "http_500": {"every": 9, "length": 1, "start": 2},
                "http_503": {"every": 11, "length": 1, "start": 3},
            },
            "seed": 8,
            "timeout_seconds": 5,
        }
    )
    # Marketo's clock runs four times faster (a 5 s window, on both sides): each 606 burst
    # pauses every worker for one window, and the test should not wait 20 s for each.
    stack = stack_factory(
        size=2500,
        seed=34,
        extra_env={**QUICK, "MARKETO_CALLS_PER_20S": "60", "MARKETO_RATE_WINDOW_SECONDS": str(window)},
        marketo_args={"faults": marketo_faults, "latency_per_call": 0.2, "time_scale": 20.0 / window},
        salesforce_args={"faults": salesforce_faults},
    )
    stack.start_worker(concurrency=6)
    run = stack.wait_for_run(stack.start_cycle()["run"], timeout=300, sweep_every=2)
    assert run.status == "succeeded", run.error
    assert_exact(stack)
    assert open_errors(stack) == []
    log = stack.marketo.log.all()
    assert {"502", "503", "604", "606", "615"} <= {str(e.error_code) for e in log}, "some faults never fired"
    assert {"UNKNOWN_EXCEPTION", "SERVER_UNAVAILABLE"} <= {str(e.error_code) for e in stack.salesforce.log.all()}
    # Budgets, as Marketo itself saw them: admitted calls within 100 per window and 10 at once.
    admitted = [e for e in log if e.operation != "identity" and e.error_code not in ("606", "615", "607")]
    assert max_in_any_window([e.started for e in admitted], window) <= 100
    assert max_concurrent([(e.started, e.ended) for e in admitted]) <= 10
    assert stack.salesforce.usage.used <= stack.salesforce.api_limit  # type: ignore[attr-defined]
    # Retries are bounded: no chunk tried more often than its transient budget plus its throttles allow.
    with session_scope(stack.database_url) as session:
        worst = session.scalar(select(func.max(Chunk.transient_failures)))
    assert worst is not None and worst <= 8


def test_two_cycles_started_at_once_run_one(stack_factory: Any) -> None:
    stack = stack_factory(size=300, seed=35, marketo_args=SLOW_MARKETO)
    stack.start_worker(concurrency=4)
    answers: list[dict[str, Any]] = []
    barrier = threading.Barrier(2)

    def start() -> None:
        barrier.wait()
        answers.append(stack.start_cycle())

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a["status"] for a in answers) == ["already-running", "started"]
    started = next(a for a in answers if a["status"] == "started")
    refused = next(a for a in answers if a["status"] == "already-running")
    assert refused["run"] == started["run"] and "already running" in refused["message"]
    assert stack.wait_for_run(started["run"]).status == "succeeded"


def test_two_beats_never_run_two_cycles_at_once(stack_factory: Any) -> None:
    stack = stack_factory(size=300, seed=36, extra_env={"SYNC_INTERVAL_SECONDS": "10"}, marketo_args=SLOW_MARKETO)
    stack.start_worker(concurrency=4)
    beats = []
    for index in range(2):
        log = open(stack.log_dir / f"beat-{index}.log", "wb")  # noqa: SIM115
        beats.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "worker",
                    "beat",
                    "--loglevel",
                    "INFO",
                    "-s",
                    str(stack.log_dir / f"beat-{index}.schedule"),
                ],
                cwd=REPO,
                env={**__import__("os").environ, **stack.env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    try:
        time.sleep(14)  # each beat fires at start and again after 10 s
    finally:
        for beat in beats:
            beat.send_signal(signal.SIGTERM)
            beat.wait(timeout=30)
    runs = stack.runs()
    assert len(runs) >= 1
    for run in runs:
        if run.status == "running":
            stack.wait_for_run(run.id)
    runs = stack.runs()
    for earlier, later in itertools.pairwise(runs):
        assert earlier.finished_at is not None and earlier.finished_at <= later.started_at


def test_a_long_budget_wait_is_parked_not_left_in_redis(stack_factory: Any) -> None:
    # Marketo's daily quota ends after two calls: the rest waits until midnight US Central,
    # far longer than Redis's visibility timeout, so it must wait in the database.
    stack = stack_factory(size=300, seed=37, extra_env={"MARKETO_DAILY_QUOTA": "2", **SHORT_VISIBILITY})
    stack.start_worker(concurrency=4)
    run_id = stack.start_cycle()["run"]

    def parked() -> bool:
        with session_scope(stack.database_url) as session:
            return bool(session.scalar(select(func.count()).select_from(Chunk).where(Chunk.status == "waiting")))

    wait_until(parked, timeout=60)
    time.sleep(2)
    broker = redis.Redis.from_url(stack.env["REDIS_URL"])
    waiting_in_broker = [raw for raw in broker.hvals("unacked") if b"msi.upsert_chunk" in raw] + [
        raw for raw in broker.lrange("marketo", 0, -1) if b"msi.upsert_chunk" in raw
    ]
    assert waiting_in_broker == []
    with session_scope(stack.database_url) as session:
        due = session.scalars(select(Chunk.due_at).where(Chunk.status == "waiting")).all()
        assert session.get(SyncRun, run_id).status == "running"  # type: ignore[union-attr]
        staged = session.scalar(select(func.count()).select_from(StagedRecord).where(StagedRecord.run_id == run_id))
    assert staged and all(d is not None and d > datetime.now(UTC) + timedelta(minutes=1) for d in due)


def test_a_cycle_longer_than_the_visibility_timeout_runs_no_task_twice(stack_factory: Any) -> None:
    # Redis hands a message out again once it has been unacknowledged for 60 s. Our limiter
    # allows 1 Marketo call per 20 s and Salesforce answers in 5 s, so the cycle lasts well
    # over a minute, with chunks waiting in countdowns and extracts split by their deadline.
    # Every message must be acknowledged before 60 s, and every task must succeed once.
    stack = stack_factory(
        size=400,
        seed=41,
        extra_env={**SHORT_VISIBILITY, "MARKETO_CALLS_PER_20S": "1"},
        salesforce_args={"latency_per_call": 5.0},
    )
    broker = redis.Redis.from_url(stack.env["REDIS_URL"])
    oldest = 0.0
    stop = threading.Event()

    def watch_unacknowledged() -> None:
        nonlocal oldest
        while not stop.is_set():
            now = time.time()
            for _tag, delivered in broker.zrange("unacked_index", 0, -1, withscores=True):
                oldest = max(oldest, now - delivered)
            time.sleep(0.25)

    watcher = threading.Thread(target=watch_unacknowledged, daemon=True)
    watcher.start()
    stack.start_worker(concurrency=4)
    try:
        run = stack.sync()
    finally:
        stop.set()
        watcher.join()
    assert run.status == "succeeded", run.error
    assert run.finished_at is not None
    assert (run.finished_at - run.started_at).total_seconds() > 60, "the cycle did not outlast the visibility timeout"
    assert 0 < oldest < 60, f"a message stayed unacknowledged {oldest:.0f}s"
    logs = "".join(path.read_text(errors="replace") for path in stack.log_dir.glob("worker-*.log"))
    succeeded = re.findall(r"Task [^\[]+\[([0-9a-f-]{36})\] succeeded", logs)
    assert succeeded and max(Counter(succeeded).values()) == 1
    assert_exact(stack)


def test_a_write_whose_answer_was_lost_is_not_sent_again_before_the_server_timeout(stack_factory: Any) -> None:
    # The first Marketo call of the sync (sales persons) gets a 502: Marketo may still be
    # applying it. The chunk waits out the 20 s server timeout (longer than a countdown may be
    # under a 60 s visibility timeout, so it is parked for the sweeper) before it is sent again.
    server_timeout = 20.0
    faults = FaultPlan(bursts={"http_502": Burst(every=10**6, length=1, start=0)})
    stack = stack_factory(
        size=300,
        seed=43,
        extra_env={**SHORT_VISIBILITY, "MARKETO_SERVER_TIMEOUT_SECONDS": str(server_timeout)},
        marketo_args={"faults": faults},
    )
    stack.start_worker()
    run = stack.wait_for_run(stack.start_cycle()["run"], timeout=120, sweep_every=2)
    assert run.status == "succeeded", run.error
    log = [e for e in stack.marketo.log.all() if e.operation != "identity"]
    lost = log[0]
    assert (lost.operation, lost.obj, lost.error_code) == ("sync", "salespersons", "502")
    again = [e for e in log[1:] if e.operation == "sync" and e.obj == "salespersons"]
    assert len(again) == 1 and again[0].started - lost.started >= server_timeout - 0.5
    assert_exact(stack)
