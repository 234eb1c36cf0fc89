"""Flower watching a real sync: tasks of every stage by readable name, ids only in what it shows, login, metrics."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.integration.conftest import REPO, Stack

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]

FLOWER_LOGIN = ("ops", "flower-test-password")
# Values that must never reach Flower: a person's email planted in the org, and both API secrets.
PLANTED_EMAIL = "planted.person.q7x2@privacy-probe.example"
SALESFORCE_SECRET = "sf-secret-never-in-flower-4c1e"
MARKETO_SECRET = "mk-secret-never-in-flower-9b7d"
STEPS = ("salespersons:upsert", "companies:upsert", "leads:upsert", "opportunities:upsert", "roles:upsert")
OBJECT_TYPES = ("salespersons", "companies", "leads", "opportunities", "roles")


class Flower:
    """A real `celery -A worker flower` process with our config, on a free port, with basic auth."""

    def __init__(self, stack: Stack) -> None:
        self.log_path = stack.log_dir / "flower.log"
        command = [sys.executable, "-m", "celery", "-A", "worker", "flower",
                   f"--conf={REPO / 'worker' / 'flowerconfig.py'}", "--address=127.0.0.1", "--port=0"]
        env = {**os.environ, **stack.env, "FLOWER_BASIC_AUTH": ":".join(FLOWER_LOGIN)}
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        self.url = self._wait_for_address()

    def _wait_for_address(self) -> str:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"flower exited with {self.process.returncode}: {self.log_path.read_text()}")
            found = re.search(r"Visit me at (http://[\d.]+:\d+)", self.log_path.read_text(errors="replace"))
            if found:
                return found.group(1)
            time.sleep(0.1)
        raise RuntimeError(f"flower did not start within 30 s: {self.log_path.read_text()}")

    def get(self, path: str, *, auth: bool = True) -> requests.Response:
        return requests.get(self.url + path, auth=FLOWER_LOGIN if auth else None, timeout=10)

    def tasks(self) -> dict[str, dict[str, Any]]:
        answer = self.get("/api/tasks")
        answer.raise_for_status()
        return dict(answer.json())

    def wait_until_watching(self, worker_prefix: str) -> None:
        """Flower knows a worker is online only from its events: once it does, events flow."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            metrics = self.get("/metrics", auth=False).text
            if re.search(rf'flower_worker_online\{{worker="{re.escape(worker_prefix)}[^"]*"\}} 1\.0', metrics):
                return
            time.sleep(0.25)
        raise AssertionError(f"flower saw no events from {worker_prefix} within 30 s; see {self.log_path}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)


@pytest.fixture
def flower_stack(stack_factory: Any) -> Iterator[tuple[Stack, Flower]]:
    stack: Stack = stack_factory(size=120, seed=5, salesforce_args={"client_secret": SALESFORCE_SECRET},
                                 marketo_args={"client_secret": MARKETO_SECRET})
    stack.env["SALESFORCE_CLIENT_SECRET"] = SALESFORCE_SECRET
    stack.start_worker(name="flowerwatched")
    flower = Flower(stack)
    try:
        flower.wait_until_watching("flowerwatched")
        yield stack, flower
    finally:
        flower.stop()


def test_explore(flower_stack: tuple[Stack, Flower]) -> None:
    stack, flower = flower_stack
    started = time.monotonic()
    run = stack.sync()
    print("sync took", time.monotonic() - started, run.status)
    time.sleep(2)
    tasks = flower.tasks()
    Path("/tmp/flower-tasks.json").write_text(json.dumps(tasks, indent=1))
    print(len(tasks))
