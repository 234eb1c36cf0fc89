"""Make docs/flower-tasks.png: Flower's tasks page in headless chromium after a real sync cycle.

    python -m benchmarks.flower_screenshot

Runs the browser test of tests/integration/test_flower.py (real worker, Flower, simulators,
Redis and PostgreSQL) and keeps the screenshot it takes; prints the file's size.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET = REPO / "docs" / "flower-tasks.png"
TEST = "tests/integration/test_flower.py::test_tasks_page_in_headless_chromium"


def main() -> int:
    env = {**os.environ, "MSI_FLOWER_SCREENSHOT": str(TARGET)}
    finished = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TEST], cwd=REPO, env=env, check=False
    )
    if finished.returncode != 0 or not TARGET.exists():
        print("no screenshot: the browser test did not pass", file=sys.stderr)
        return 1
    print(f"{TARGET.relative_to(REPO)}: {TARGET.stat().st_size / 1024:.0f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
