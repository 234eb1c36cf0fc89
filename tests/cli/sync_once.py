"""Run one sync cycle on embedded defaults in this process, then exit (tests start it as a subprocess).

Settings come from the environment. A subprocess keeps the in-process Celery worker away from
the test process's own app configuration. Prints the run's id and status as JSON.
"""

from __future__ import annotations

import json
import sys
import time

from models.db import migrate, session_scope
from models.runs import RUN_RUNNING, SyncRun
from tasks.cycle import start_cycle
from worker import context
from worker.celery_app import reconfigure
from worker.embedded import embedded_worker


def main() -> int:
    settings = context.settings()
    migrate(settings.DATABASE_URL)
    reconfigure(settings)
    with embedded_worker(concurrency=4):
        answer = start_cycle.apply_async(kwargs={"trigger": "test"}).get(timeout=60, disable_sync_subtasks=False)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with session_scope(settings.DATABASE_URL) as session:
                run = session.get(SyncRun, int(answer["run"]))
                assert run is not None
                if run.status != RUN_RUNNING:
                    print(json.dumps({"run": run.id, "status": run.status}))
                    return 0 if run.status == "succeeded" else 1
            time.sleep(0.2)
    print(json.dumps({"run": answer.get("run"), "status": "timeout"}))
    return 1


if __name__ == "__main__":
    sys.exit(main())
