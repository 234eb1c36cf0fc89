"""Flower started with our configuration refuses to run without a login."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.integration.conftest import REPO


def test_flower_without_basic_auth_does_not_start() -> None:
    env = {k: v for k, v in os.environ.items() if k != "FLOWER_BASIC_AUTH"}
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "worker",
            "flower",
            f"--conf={REPO / 'worker' / 'flowerconfig.py'}",
            "--port=0",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode != 0
    assert "FLOWER_BASIC_AUTH" in finished.stderr
