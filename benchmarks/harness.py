"""A real deployment for benchmarks: simulators, Redis, a fresh PostgreSQL database, worker processes."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import requests
import sqlalchemy

REPO = Path(__file__).resolve().parents[1]
POSTGRES = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/5")


@dataclass
class Deployment:
    env: dict[str, str]
    workdir: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    peak_rss_mb: dict[str, float] = field(default_factory=dict)

    def start_worker(self, name: str, queues: str, concurrency: int) -> None:
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 - lives as long as the process
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "worker",
            "worker",
            "-Q",
            queues,
            "-c",
            str(concurrency),
            "-n",
            f"{name}@%h",
            "--loglevel",
            "WARNING",
            "--without-mingle",
            "--without-gossip",
        ]
        self.processes[name] = subprocess.Popen(
            command,
            cwd=REPO,
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_workers(self) -> None:
        from worker.celery_app import app

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            names = {name for reply in (app.control.ping(timeout=0.5) or []) for name in reply}
            if all(any(n.startswith(f"{w}@") for n in names) for w in self.processes if w != "simulators"):
                return
        raise RuntimeError(f"workers did not start; logs in {self.workdir}")

    def sample_memory(self) -> None:
        """Peak resident memory per role, each pool child counted on its own."""
        for name, process in self.processes.items():
            for pid, label in _family(process.pid, name):
                rss = _rss_mb(pid)
                if rss is not None:
                    self.peak_rss_mb[label] = max(self.peak_rss_mb.get(label, 0.0), rss)

    def marketo_log(self, since: int = 0) -> list[dict[str, Any]]:
        return _read_log(self.env["MARKETO_BASE_URL"], None, since)

    def mutate_salesforce(self, seed: int, changes: int) -> int:
        """Make `changes` realistic changes in the Salesforce org (the simulator's seeded mutator)."""
        answer = requests.post(
            f"{self.env['SALESFORCE_LOGIN_URL']}/_sim/mutate",
            json={"seed": seed, "n": changes},
            verify=self.env["REQUESTS_CA_BUNDLE"],
            timeout=600,
        )
        answer.raise_for_status()
        body = answer.json()
        return len(body.get("changes", body) if isinstance(body, dict) else body)

    def advance_msi(self, epochs: int = 1) -> None:
        requests.post(
            f"{self.env['MARKETO_BASE_URL']}/_sim/msi/advance", json={"epochs": epochs}, timeout=600
        ).raise_for_status()

    def queue_lengths(self) -> dict[str, int]:
        broker = redis.Redis.from_url(self.env["REDIS_URL"])
        lengths = {name: int(broker.llen(name)) for name in ("sync", "marketo", "writeback")}
        lengths["unacked"] = int(broker.hlen("unacked"))
        return lengths

    def salesforce_log(self, since: int = 0) -> list[dict[str, Any]]:
        return _read_log(self.env["SALESFORCE_LOGIN_URL"], self.env["REQUESTS_CA_BUNDLE"], since)


def _read_log(base: str, verify: str | None, since: int = 0) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    while True:
        page = requests.get(
            f"{base}/_sim/requests", params={"since": since}, timeout=60, verify=verify if verify else True
        ).json()
        items = page["requests"] if isinstance(page, dict) else page
        if not items:
            return entries
        entries += items
        since = items[-1]["seq"]


def _family(pid: int, name: str) -> Iterator[tuple[int, str]]:
    yield pid, f"{name} (main)"
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return
    for index, child in enumerate(children):
        yield int(child), f"{name} (child {index + 1})"


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):  # the process's own peak, even between our samples
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


@contextmanager
def deployment(
    size: int, limits: str, seed: int = 1, extra_env: dict[str, str] | None = None, **sim_args: float
) -> Iterator[Deployment]:
    """Start everything; tear it all down (processes, database, Redis keys) afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="msi-bench-"))
    database = f"bench_{int(time.time())}_{os.getpid()}"
    admin = sqlalchemy.create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{database}"'))
    database_url = sqlalchemy.engine.make_url(POSTGRES).set(database=database).render_as_string(hide_password=False)
    broker = redis.Redis.from_url(REDIS)
    broker.flushdb()
    command = [
        sys.executable,
        "-m",
        "benchmarks.simhost",
        "--size",
        str(size),
        "--seed",
        str(seed),
        "--limits",
        limits,
        "--tls-dir",
        str(workdir / "ca"),
    ]
    for key, value in sim_args.items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    simulators = subprocess.Popen(
        command,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=open(workdir / "sims.log", "wb"),  # noqa: SIM115
        start_new_session=True,
    )
    assert simulators.stdout is not None
    sim_env = json.loads(simulators.stdout.readline())
    env = {
        **sim_env,
        "REDIS_URL": REDIS,
        "DATABASE_URL": database_url,
        "MARKETO_CALLS_PER_20S": "100",
        "MARKETO_MAX_CONCURRENCY": "10",
        "LOG_LEVEL": "WARNING",
        **(extra_env or {}),
    }
    if limits == "off":
        env["MARKETO_RATE_WINDOW_SECONDS"] = "0.001"
    elif "time_scale" in sim_args:
        # Marketo's 20 s window runs faster in a time-scaled simulator; the limiter follows it.
        env["MARKETO_RATE_WINDOW_SECONDS"] = str(20.0 / float(sim_args["time_scale"]))
    os.environ.update(env)
    from models.db import migrate
    from worker import context
    from worker.celery_app import reconfigure

    context.reset()
    reconfigure(context.settings())
    migrate(database_url)
    deployment = Deployment(env=env, workdir=workdir, processes={"simulators": simulators})
    try:
        yield deployment
    finally:
        for process in deployment.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in deployment.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        from models.db import engine_for

        engine_for(database_url).dispose()
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()
        broker.flushdb()


def run_cycle(deployment: Deployment, timeout: float = 3600, **kwargs: Any) -> Any:
    """Start a cycle through the broker and wait for it, sampling memory; return the finished run."""
    from models.db import session_scope
    from models.runs import SyncRun
    from tasks.cycle import start_cycle

    answer = start_cycle.apply_async(kwargs={"trigger": "benchmark", **kwargs}).get(timeout=120)
    run_id = int(answer["run"])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        deployment.sample_memory()
        with session_scope(deployment.env["DATABASE_URL"]) as session:
            run = session.get(SyncRun, run_id)
            if run is not None and run.status != "running":
                return run
        time.sleep(0.5)
    raise TimeoutError(f"run {run_id} did not finish in {timeout}s; logs in {deployment.workdir}")


def minimum_marketo_calls(summary: dict[str, dict[str, int]]) -> int:
    return sum(math.ceil(counts["sent"] / 300) for counts in summary.values() if counts["sent"])
