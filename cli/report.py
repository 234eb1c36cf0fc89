"""Render a run's summary: a table on a terminal, JSON for machines."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from models.runs import SyncRun
from pipeline import objects as o

COLUMNS = ("extracted", "unchanged", "invalid", "retried", "sent", "failed", "warnings", "calls")


def run_as_dict(run: SyncRun) -> dict[str, Any]:
    return {
        "run": run.id,
        "kind": run.kind,
        "status": run.status,
        "trigger": run.trigger,
        "full": run.full,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "seconds": (run.finished_at - run.started_at).total_seconds() if run.finished_at else None,
        "error": run.error,
        "objects": run.summary,
    }


def print_run(run: SyncRun, console: Console, *, as_json: bool = False) -> None:
    if as_json:
        console.print_json(json.dumps(run_as_dict(run)))
        return
    seconds = (run.finished_at - run.started_at).total_seconds() if run.finished_at else None
    title = f"run {run.id}: {run.status}" + (f" in {seconds:.1f}s" if seconds is not None else "")
    table = Table(title=title)
    table.add_column("object")
    for column in COLUMNS:
        table.add_column(column, justify="right")
    for kind in o.OBJECT_TYPES:
        counts = run.summary.get(kind) or {}
        if not any(counts.get(c) for c in COLUMNS):
            continue
        table.add_row(kind, *(f"{counts.get(c, 0):,}" for c in COLUMNS))
    console.print(table)
    if run.error:
        console.print(f"[red]error:[/red] {run.error}")
