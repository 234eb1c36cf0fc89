"""What an admin sees of a deployment under test: the `msi-sync` command's JSON, run as its own process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from tests.integration.conftest import REPO, Stack


@dataclass(frozen=True)
class Command:
    """One `msi-sync` invocation: exit code, stdout parsed as JSON when it is, and every byte it printed."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)


def msi_sync(stack: Stack, *args: str, env: dict[str, str] | None = None) -> Command:
    """`msi-sync ARGS` with the deployment's settings, as an operator would run it next to the workers."""
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        cwd=REPO,
        env={**os.environ, **stack.env, **(env or {}), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Command(done.returncode, done.stdout, done.stderr)


def open_failures(stack: Stack, kind: str) -> list[dict[str, Any]]:
    """Every open failure of `kind` (error or warning), as `msi-sync failures list --json` lists them."""
    listed = msi_sync(stack, "failures", "list", "--status", "open", "--kind", kind, "--limit", "100000", "--json")
    assert listed.exit_code == 0, listed.stderr
    answer = listed.json
    assert answer["shown"] == answer["total"]
    return list(answer["failures"])
