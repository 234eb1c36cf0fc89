"""Follow a run in the database until it ends: progress bars on a terminal, plain lines otherwise."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from models.db import session_scope
from models.runs import RUN_RUNNING, SyncRun
from ops.status import step_report


@dataclass(frozen=True)
class StepProgress:
    step: str
    status: str
    chunks_done: int
    chunks: int
    records_done: int
    records: int


def run_progress(database_url: str, run_id: int) -> tuple[SyncRun, list[StepProgress]]:
    with session_scope(database_url) as session:
        run = session.get(SyncRun, run_id)
        if run is None:
            raise LookupError(f"no run {run_id}")
        steps = [
            StepProgress(
                row["step"],
                row["status"] if row["status"] != "-" else "pending",
                row["chunks_ended"],
                row["chunks"],
                row["records_ended"],
                row["records"],
            )
            for row in step_report(session, run_id)
        ]
    return run, steps


def watch_run(
    database_url: str,
    run_id: int,
    console: Console,
    *,
    interval: float = 0.5,
    timeout: float | None = None,
    tick: Callable[[], Any] | None = None,
) -> SyncRun:
    """Block until the run ends (or `timeout`), showing progress per step; return the final run."""
    started = time.monotonic()
    if console.is_terminal:
        return _watch_with_bars(database_url, run_id, console, interval, timeout, tick, started)
    last_line = ""
    while True:
        run, steps = run_progress(database_url, run_id)
        line = "  ".join(f"{s.step} {s.records_done}/{s.records}" for s in steps if s.records)
        if line != last_line:
            # One unbroken line per change, so that logs and greps see a whole update.
            console.print(f"run {run_id} {run.status}: {line or 'reading Salesforce'}", soft_wrap=True)
            last_line = line
        if run.status != RUN_RUNNING or (timeout is not None and time.monotonic() - started > timeout):
            return run
        if tick:
            tick()
        time.sleep(interval)


def _watch_with_bars(
    database_url: str,
    run_id: int,
    console: Console,
    interval: float,
    timeout: float | None,
    tick: Callable[[], Any] | None,
    started: float,
) -> SyncRun:
    columns = (TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bars:
        handles: dict[str, Any] = {}
        while True:
            run, steps = run_progress(database_url, run_id)
            for step in steps:
                if not step.records and step.step not in handles:
                    continue
                if step.step not in handles:
                    handles[step.step] = bars.add_task(step.step, total=step.records)
                bars.update(handles[step.step], total=max(step.records, 1), completed=step.records_done)
            if run.status != RUN_RUNNING or (timeout is not None and time.monotonic() - started > timeout):
                return run
            if tick:
                tick()
            time.sleep(interval)
