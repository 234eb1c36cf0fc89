"""The demo profile's commands run for real as local processes (no Docker here): simulators, workers, connect, sync.

Only what Docker would provide is replaced: service names by this machine's name, fixed ports by
free ones, the volumes by a temporary folder, and the postgres service by a fresh database on the
local server. Redis is a private redis-server started with the compose service's own command.
Everything else is taken from docker-compose.yml and deploy/demo.env as written.
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from tests.deploy.compose import DEMO_ENV, active_values, command_of, healthcheck_command, services

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def local_name() -> str:
    """This machine's name stands in for a compose service name: the simulator must serve it over TLS."""
    name = socket.gethostname()
    try:
        socket.getaddrinfo(name, None)
    except socket.gaierror:
        pytest.skip(f"this machine's name {name!r} does not resolve; it stands in for a compose service name")
    return name


def replaced(argv: list[str], options: dict[str, str]) -> list[str]:
    out = list(argv)
    for option, value in options.items():
        out[out.index(option) + 1] = value
    return out


class Processes:
    """The demo's services as local processes, each in its own session so it stops with its children."""

    def __init__(self, log_dir: Path, env: dict[str, str]) -> None:
        self.log_dir, self.env = log_dir, env
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        program = argv[0] if name == "redis" else str(BIN / argv[0])
        with open(self.log_dir / f"{name}.log", "wb") as log:
            process = subprocess.Popen(
                [program, *argv[1:]], env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.running.append(process)
        return process

    def run(self, argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / argv[0]), *argv[1:]], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )

    def stop(self) -> None:
        for process in self.running:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.running:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def wait_until(check: Callable[[], object], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, redis.ConnectionError):
            pass
        time.sleep(0.3)
    raise AssertionError(f"{what} not ready within {timeout} s")


@pytest.fixture
def demo(postgres_url: str, tmp_path: Path) -> Iterator[tuple[Processes, dict[str, str]]]:
    host, sf_port, mk_port, ca_dir = local_name(), str(free_port()), str(free_port()), tmp_path / "demo-ca"
    redis_port = free_port()
    # A Redis of its own, so that nothing else on this machine consumes the demo's tasks.
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    compose = services()
    values = active_values(DEMO_ENV)
    salesforce = replaced(
        command_of(compose["salesforce-sim"], values),
        {"--public-host": host, "--port": sf_port, "--tls-dir": str(ca_dir)},
    )
    marketo = replaced(command_of(compose["marketo-sim"], values), {"--port": mk_port})
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SALESFORCE_", "MARKETO_", "REQUESTS_"))},
        **values,
        # What compose's `environment:` and networking give every service.
        "REDIS_URL": redis_url,
        "DATABASE_URL": postgres_url,
        "SALESFORCE_LOGIN_URL": values["SALESFORCE_LOGIN_URL"].replace("salesforce-sim:8443", f"{host}:{sf_port}"),
        "MARKETO_BASE_URL": values["MARKETO_BASE_URL"].replace("marketo-sim:8081", f"127.0.0.1:{mk_port}"),
        "REQUESTS_CA_BUNDLE": values["REQUESTS_CA_BUNDLE"].replace(
            str(Path(values["REQUESTS_CA_BUNDLE"]).parent), str(ca_dir)
        ),
    }
    processes = Processes(tmp_path, env)
    try:
        processes.start(
            "redis",
            [*compose["redis"]["command"], "--port", str(redis_port), "--bind", "127.0.0.1", "--dir", str(tmp_path)],
        )
        wait_until(lambda: redis.Redis.from_url(redis_url).ping(), "redis")
        processes.start("salesforce-sim", salesforce)
        processes.start("marketo-sim", marketo)
        ca = ca_dir / "ca.pem"
        wait_until(
            lambda: urllib.request.urlopen(
                f"https://localhost:{sf_port}/services/data",
                timeout=5,
                context=ssl.create_default_context(cafile=str(ca)),
            ),
            "salesforce-sim",
        )
        wait_until(lambda: urllib.request.urlopen(f"http://127.0.0.1:{mk_port}/_sim/state", timeout=5), "marketo-sim")
        yield processes, env
    finally:
        processes.stop()


def test_the_demo_profile_connects_and_syncs(demo: tuple[Processes, dict[str, str]]) -> None:
    processes, _ = demo
    compose = services()
    values = active_values(DEMO_ENV)
    workers = ("worker-sync", "worker-marketo", "worker-writeback")
    for name in workers:
        processes.start(name, command_of(compose[name], values))
    for name in workers:
        # The compose health check itself, as Docker would run it.
        probe = healthcheck_command(compose[name], {})
        probe = [part.replace("$HOSTNAME", socket.gethostname()) for part in probe]
        wait_until(
            lambda probe=probe: processes.run(probe, timeout=60).returncode == 0,
            f"{name} (see {processes.log_dir / name}.log)",
            timeout=90,
        )

    connect = processes.run(command_of(compose["demo-connect"], values), timeout=120)
    assert connect.returncode == 0, connect.stdout + connect.stderr
    assert "connected" in connect.stdout and "sandbox" in connect.stdout

    sync = processes.run(command_of(compose["demo-sync"], values), timeout=180)
    assert sync.returncode == 0, sync.stdout + sync.stderr
    assert "succeeded" in sync.stdout, sync.stdout
