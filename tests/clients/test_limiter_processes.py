"""The shared limiter across processes: several processes hammering the Marketo simulator through
it get no 606 or 615 and stay inside Marketo's window; without it, the same load gets both."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from simulators.marketo import MarketoSimulator
from tests.request_log import max_concurrent, max_in_any_window

REPO = Path(__file__).resolve().parents[2]
PROCESSES, THREADS = 4, 4
TIME_SCALE = 10.0  # Marketo's 20 s window lasts 2 s, on both sides
WINDOW = 20.0 / TIME_SCALE


@pytest.fixture
def hammered_sim() -> Any:
    # 0.2 s per call at this time scale is 2 s of Marketo time: long enough that 16 callers
    # overlap and concurrency is real.
    sim = MarketoSimulator(seed=5, time_scale=TIME_SCALE, latency_per_call=2.0).start()
    yield sim
    sim.stop()


def _hammer(sim: MarketoSimulator, redis_url: str, prefix: str, mode: str, calls: int) -> list[dict[str, int]]:
    start_at = time.time() + 3.0  # every process imported and waiting by then
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.clients.hammer",
                sim.url,
                redis_url,
                prefix,
                str(THREADS),
                str(calls),
                str(WINDOW),
                mode,
                str(start_at),
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
        )
        for _ in range(PROCESSES)
    ]
    outputs = []
    for process in processes:
        out, _ = process.communicate(timeout=120)
        assert process.returncode == 0
        outputs.append(json.loads(out))
    return outputs


def test_processes_sharing_the_limiter_get_no_606_or_615(hammered_sim: MarketoSimulator, redis_url: str) -> None:
    calls = 10  # 4 x 4 x 10 = 160 calls: more than one window admits
    outputs = _hammer(hammered_sim, redis_url, f"test:{uuid.uuid4().hex[:10]}", "shared", calls)
    log = [e for e in hammered_sim.log.all() if e.operation != "identity"]
    assert sum(o["made"] for o in outputs) == PROCESSES * THREADS * calls == len(log)
    assert {e.error_code for e in log} == {None}
    assert max_in_any_window([e.started for e in log], WINDOW) <= 100
    assert max_concurrent([(e.started, e.ended) for e in log]) <= 10
    assert sum(o["throttled"] for o in outputs) > 0, "the load never reached a limit: the test proves nothing"


def test_the_same_load_without_the_shared_limiter_gets_606_and_615(
    hammered_sim: MarketoSimulator, redis_url: str
) -> None:
    _hammer(hammered_sim, redis_url, f"test:{uuid.uuid4().hex[:10]}", "none", 10)
    codes = {e.error_code for e in hammered_sim.log.all()}
    assert {"606", "615"} <= codes
