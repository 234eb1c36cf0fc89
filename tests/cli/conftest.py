"""Fixtures of the CLI tests: a deployment synced once by a real embedded worker, and a CliRunner on `msi-sync`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from simulators.marketo import MarketoSimulator
from simulators.salesforce import SalesforceSimulator
from tests.ops.deployment import PRODUCTION_ORG, Orgs, env_for, start_orgs, stop_orgs

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Synced:
    """A production org, a Marketo, and a SQLite database after one full sync between them."""

    salesforce: SalesforceSimulator
    marketo: MarketoSimulator
    database_url: str
    env: dict[str, str]


@pytest.fixture(scope="session")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synced]:
    folder = tmp_path_factory.mktemp("synced")
    salesforce = SalesforceSimulator(seed=9, size=80, org_id=PRODUCTION_ORG, tls_dir=folder / "ca").start()
    marketo = MarketoSimulator(seed=9).start()
    url = f"sqlite:///{folder}/msi-sync.db"
    env = {
        **env_for(salesforce, marketo, url, "production"),
        "REQUESTS_CA_BUNDLE": str(salesforce.ca_bundle),
        "MARKETO_CALLS_PER_20S": "100",
        "MARKETO_MAX_CONCURRENCY": "10",
    }
    child_env = {**os.environ, **env}
    child_env.pop("REDIS_URL", None)
    # A subprocess: the embedded worker reconfigures Celery's app, which must not leak into this process.
    done = subprocess.run(
        [sys.executable, "-m", "tests.cli.sync_once"],
        cwd=REPO,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["status"] == "succeeded"
    yield Synced(salesforce, marketo, url, env)
    salesforce.stop()
    marketo.stop()


@pytest.fixture(scope="session")
def orgs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orgs]:
    started = start_orgs(tmp_path_factory.mktemp("orgs"))
    yield started
    stop_orgs(started)


@pytest.fixture
def use_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[dict[str, str]], None]]:
    """Point this process's settings at a deployment (the commands read them through worker.context)."""
    from worker import context

    def use(env: dict[str, str]) -> None:
        monkeypatch.delenv("REDIS_URL", raising=False)
        monkeypatch.setenv("COLUMNS", "200")  # rich wraps at the terminal width; keep sentences on one line
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        context.reset()

    yield use
    context.reset()


@pytest.fixture
def msi_sync() -> Callable[..., Result]:
    """Run `msi-sync ARGS...` in this process; returns click's Result (output, exit_code)."""
    from cli.main import _register, cli

    _register()
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> Result:
        return runner.invoke(cli, list(args), input=input, catch_exceptions=False)

    return run


def as_json(result: Result) -> Any:
    return json.loads(result.stdout)
