"""The whole service for real: simulators over HTTP(S), Redis broker and backend, PostgreSQL, worker processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from kombu.exceptions import KombuError
from sqlalchemy import select

from models.db import migrate, session_scope
from models.runs import RUN_RUNNING, SyncRun
from simulators.marketo import MarketoSimulator
from simulators.salesforce import SalesforceSimulator

REPO = Path(__file__).resolve().parents[2]
# Redis's shortest visibility timeout the service accepts, with task limits and call timeouts
# that fit inside it (worker/settings.py: _tasks_end_before_redelivery).
SHORT_VISIBILITY = {
    "VISIBILITY_TIMEOUT_SECONDS": "60",
    "TASK_TIME_LIMIT_SECONDS": "20",
    "SALESFORCE_TIMEOUT_SECONDS": "15",
}


@dataclass
class Stack:
    """One deployment under test. `env` is what every process of it sees."""

    salesforce: SalesforceSimulator
    marketo: MarketoSimulator
    env: dict[str, str]
    log_dir: Path
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    restarts: int = 0
    _worker_args: dict[int, dict[str, Any]] = field(default_factory=dict)
    _killed: set[int] = field(default_factory=set)
    _stop_supervising: threading.Event = field(default_factory=threading.Event)
    _supervisor: threading.Thread | None = None

    @property
    def database_url(self) -> str:
        return self.env["DATABASE_URL"]

    def start_worker(self, *queues: str, concurrency: int = 4, name: str = "w") -> subprocess.Popen[bytes]:
        """A real `celery -A worker worker` process (prefork), on the given queues (default: all)."""
        index = len(self.workers)
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "worker",
            "worker",
            "--loglevel",
            "INFO",
            "-c",
            str(concurrency),
            "-n",
            f"{name}{index}@%h",
            "--without-mingle",
            "--without-gossip",
        ]
        if queues:
            command += ["-Q", ",".join(queues)]
        log = open(self.log_dir / f"worker-{index}.log", "wb")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.workers.append(process)
        self._worker_args[process.pid] = {"queues": queues, "concurrency": concurrency}
        self._wait_ready(process, f"{name}{index}@")
        return process

    def supervise(self) -> None:
        """Restart any worker that exits on its own, as compose's `restart: unless-stopped` does.

        Celery's worker can die on a broker outage (kombu fails to close a channel whose Redis
        is gone: "Unrecoverable error"); in production its supervisor starts it again.
        """

        def watch() -> None:
            while not self._stop_supervising.wait(0.5):
                for index, process in enumerate(list(self.workers)):
                    if process.poll() is None or process.pid in self._killed:
                        continue
                    self.restarts += 1
                    args = self._worker_args[process.pid]
                    try:
                        replacement = self.start_worker(*args["queues"], concurrency=args["concurrency"])
                    except (RuntimeError, OSError, redis.RedisError, KombuError):
                        continue  # not up yet (the broker may still be down): try again next round
                    self.workers.remove(replacement)
                    self.workers[index] = replacement

        self._stop_supervising.clear()
        self._supervisor = threading.Thread(target=watch, name="supervisor", daemon=True)
        self._supervisor.start()

    def _wait_ready(self, process: subprocess.Popen[bytes], prefix: str) -> None:
        from worker.celery_app import app

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"worker exited with {process.returncode}; see {self.log_dir}")
            replies = app.control.ping(timeout=0.5) or []
            if any(name.startswith(prefix) for reply in replies for name in reply):
                return
        raise RuntimeError(f"worker {prefix} did not answer within 60 s; see {self.log_dir}")

    def kill_worker(self, process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        """Kill the worker and all its pool children at once (its own process group)."""
        self._killed.add(process.pid)
        os.killpg(process.pid, sig)
        process.wait(timeout=30)

    def stop_workers(self) -> None:
        self._stop_supervising.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=90)
        for process in self.workers:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.workers:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        self.workers.clear()

    def start_cycle(self, **kwargs: Any) -> dict[str, Any]:
        from tasks.cycle import start_cycle

        return dict(start_cycle.apply_async(kwargs={"trigger": "test", **kwargs}).get(timeout=60))

    def wait_for_run(self, run_id: int, timeout: float = 180, sweep_every: float | None = None) -> SyncRun:
        """Poll the database until the run ends; optionally run the sweeper meanwhile (no beat here)."""
        from tasks.sweeper import sweep

        deadline = time.monotonic() + timeout
        last_sweep = time.monotonic()
        while time.monotonic() < deadline:
            with session_scope(self.database_url) as session:
                run = session.get(SyncRun, run_id)
                assert run is not None
                if run.status != RUN_RUNNING:
                    return run
            if sweep_every is not None and time.monotonic() - last_sweep > sweep_every:
                sweep.apply_async()
                last_sweep = time.monotonic()
            time.sleep(0.25)
        raise AssertionError(f"run {run_id} did not end within {timeout}s; worker logs in {self.log_dir}")

    def sync(self, **kwargs: Any) -> SyncRun:
        answer = self.start_cycle(**kwargs)
        assert answer["status"] == "started", answer
        return self.wait_for_run(int(answer["run"]))

    def runs(self) -> list[SyncRun]:
        with session_scope(self.database_url) as session:
            return list(session.scalars(select(SyncRun).order_by(SyncRun.id)))


def _configure_client_side(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Make this test process talk to the same broker, database and simulators as the workers."""
    from worker import context
    from worker.celery_app import reconfigure

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    context.reset()
    reconfigure(context.settings())


@pytest.fixture(scope="session")
def integration_redis() -> Iterator[str]:
    """A redis-server of this test session alone: two test sessions on one machine (or a
    developer's and CI's) must never hand each other's tasks to their workers."""
    from tests.integration.servers import PrivateRedis

    server = PrivateRedis()
    yield server.url
    server.stop()


@pytest.fixture
def stack_factory(
    postgres_url: str, integration_redis: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """Build a Stack with a generated org; everything is torn down after the test."""
    made: list[Stack] = []
    broker = redis.Redis.from_url(integration_redis)
    broker.flushdb()

    def make(
        size: int = 400,
        seed: int = 11,
        *,
        bad_input: bool = False,
        extra_env: dict[str, str] | None = None,
        marketo_args: dict[str, Any] | None = None,
        salesforce_args: dict[str, Any] | None = None,
        redis_url: str | None = None,
        database_url: str | None = None,
    ) -> Stack:
        salesforce = SalesforceSimulator(
            seed=seed, size=size, bad_input=bad_input, tls_dir=tmp_path / "ca", **(salesforce_args or {})
        ).start()
        marketo = MarketoSimulator(seed=seed, **(marketo_args or {})).start()
        env = {
            **salesforce.env(),
            "MARKETO_BASE_URL": marketo.url,
            "MARKETO_CLIENT_ID": marketo.config.client_id,
            "MARKETO_CLIENT_SECRET": marketo.config.client_secret,
            "REDIS_URL": redis_url or integration_redis,
            "DATABASE_URL": database_url or postgres_url,
            "MARKETO_CALLS_PER_20S": "100",
            "MARKETO_MAX_CONCURRENCY": "10",
            "CHUNK_LEASE_SECONDS": "10",
            "MARKETO_TIMEOUT_SECONDS": "8",
            # The simulator's longest server time: its timeout fault (timeout_seconds, 5 s in
            # these tests) holds a call that long before applying it.
            "MARKETO_SERVER_TIMEOUT_SECONDS": "5",
            "WATERMARK_OVERLAP_SECONDS": "60",
            **(extra_env or {}),
        }
        _configure_client_side(env, monkeypatch)
        migrate(env["DATABASE_URL"])
        log_dir = tmp_path / f"logs-{len(made)}"
        log_dir.mkdir()
        stack = Stack(salesforce, marketo, env, log_dir)
        made.append(stack)
        return stack

    yield make
    for stack in made:
        stack.stop_workers()
        stack.salesforce.stop()
        stack.marketo.stop()
        from models.db import engine_for

        engine_for(stack.database_url).dispose()
    broker.flushdb()
    broker.close()
    from models.db import engine_for

    engine_for(postgres_url).dispose()
