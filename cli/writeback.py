"""`msi-sync writeback`: start a score write-back pass on the workers, and optionally follow it to the end."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from cli.output import make_console
from clients.errors import ConfigurationError
from models.db import session_scope
from models.runs import CHUNK_ENDED, CHUNK_WAITING, RUN_RUNNING, Chunk, SyncRun
from pipeline.writeback import passes
from worker import context

# What the summary table shows, in order, with the words an operator reads.
ROWS = (
    ("planned_people", "people chosen to read"),
    ("planned_flagged", "  of them flagged by activities"),
    ("activities", "activities paged"),
    ("read", "people read"),
    ("not_found", "  not found in Marketo"),
    ("changed", "people with changed values"),
    ("written", "written to Salesforce"),
    ("converted", "  on a converted Lead's Contact"),
    ("deleted", "deleted in Salesforce"),
    ("locked", "row locked (next pass)"),
    ("failed", "failed (see msi-sync failures)"),
    ("marketo_calls", "Marketo calls"),
    ("salesforce_write_calls", "Salesforce write calls"),
)


@click.command("writeback")
@click.option("--wait", is_flag=True, help="Follow the pass to its end and print its summary.")
@click.option("--timeout", type=float, default=None, help="With --wait: give up waiting after this many seconds.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def writeback_command(wait: bool, timeout: float | None, as_json: bool) -> None:
    """Enqueue a write-back pass: MSI scores from Marketo onto Salesforce Leads and Contacts (needs Redis)."""
    from tasks.writeback import start_writeback

    settings = context.settings()
    if settings.embedded:
        raise ConfigurationError(
            "REDIS_URL is not set: `msi-sync writeback` hands the pass to the write-back worker through Redis",
            setting="REDIS_URL",
        )
    console = make_console()
    answer = start_writeback.apply_async(kwargs={"trigger": "cli"}).get(timeout=60)
    if answer.get("status") in ("already-running", "refused"):
        console.print_json(json.dumps(answer)) if as_json else console.print(answer["message"])
        sys.exit(3 if answer["status"] == "already-running" else 1)
    run_id = int(answer["run"])
    if not wait:
        console.print_json(json.dumps(answer)) if as_json else console.print(f"write-back pass {run_id} started")
        return
    run = watch_pass(settings.DATABASE_URL, run_id, make_console(stderr=True) if as_json else console, timeout=timeout)
    print_pass(run, console, as_json=as_json)
    if run.status != "succeeded":
        sys.exit(1)


def pass_progress(database_url: str, run_id: int) -> tuple[SyncRun, dict[str, tuple[int, int]], int]:
    """The pass, (ended, all) chunks per step, and how many chunks are parked waiting for a budget."""
    with session_scope(database_url) as session:
        run = session.get(SyncRun, run_id)
        if run is None or run.kind != passes.KIND:
            raise click.ClickException(f"no write-back pass {run_id}")
        rows = session.execute(
            select(Chunk.step, Chunk.status, func.count())
            .where(Chunk.run_id == run_id)
            .group_by(Chunk.step, Chunk.status)
        ).all()
    steps: dict[str, tuple[int, int]] = {}
    for step, status, count in rows:
        ended, total = steps.get(step, (0, 0))
        steps[step] = (ended + (count if status in CHUNK_ENDED else 0), total + count)
    parked = sum(count for _, status, count in rows if status == CHUNK_WAITING)
    return run, steps, parked


def watch_pass(
    database_url: str, run_id: int, console: Console, *, interval: float = 0.5, timeout: float | None = None
) -> SyncRun:
    """Print a line whenever the pass moves, until it ends (or `timeout`)."""
    started = time.monotonic()
    last = ""
    while True:
        run, steps, parked = pass_progress(database_url, run_id)
        line = "  ".join(f"{step.split(':')[1]} {done}/{total}" for step, (done, total) in sorted(steps.items()))
        line += f"  parked {parked} (waiting for a budget)" if parked else ""
        if line != last:
            console.print(f"write-back pass {run_id} {run.status}: {line or 'starting'}")
            last = line
        if run.status != RUN_RUNNING or (timeout is not None and time.monotonic() - started > timeout):
            return run
        time.sleep(interval)


def pass_as_dict(run: SyncRun) -> dict[str, Any]:
    return {
        "run": run.id,
        "kind": run.kind,
        "status": run.status,
        "trigger": run.trigger,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "error": run.error,
        "writeback": (run.summary or {}).get("writeback", {}),
    }


def print_pass(run: SyncRun, console: Console, *, as_json: bool = False) -> None:
    if as_json:
        console.print_json(json.dumps(pass_as_dict(run)))
        return
    seconds = (run.finished_at - run.started_at).total_seconds() if run.finished_at else None
    table = Table(title=f"write-back pass {run.id}: {run.status}" + (f" in {seconds:.1f}s" if seconds else ""))
    table.add_column("")
    table.add_column("count", justify="right")
    numbers = (run.summary or {}).get("writeback", {})
    for key, label in ROWS:
        if key in numbers:
            table.add_row(label, f"{numbers[key]:,}")
    console.print(table)
    if run.error:
        console.print(f"[red]error:[/red] {run.error}")
