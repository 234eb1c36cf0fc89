"""`msi-sync status`: the connection, the last runs, the backlog and the budgets, at a glance or as JSON."""

from __future__ import annotations

from typing import Any

import click
import redis
from rich.console import Console
from rich.progress_bar import ProgressBar
from rich.table import Table

from cli.output import emit_json, explained, make_console, when


@click.command("status")
@click.option("--runs", "run_count", default=5, show_default=True, help="How many of the last runs to show.")
@click.option(
    "--live",
    is_flag=True,
    help="Also ask Salesforce (/limits) and Marketo (stats/usage) for their own counts: one API call each.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status_command(run_count: int, live: bool, as_json: bool) -> None:
    """What synced, what failed, what is waiting, and how much API budget is left."""
    report = explained(as_json, lambda: gather(run_count, live))
    if as_json:
        emit_json(report)
    else:
        render(make_console(), report)


def gather(run_count: int, live: bool) -> dict[str, Any]:
    from clients.shared import limiter_for
    from models.db import migrate, session_scope
    from ops.budgets import budgets, writeback_shares
    from ops.status import status_report
    from worker import context

    settings = context.settings()
    migrate(settings.DATABASE_URL)
    with session_scope(settings.DATABASE_URL) as session:
        report = status_report(session, runs=run_count)
    limiter = limiter_for(settings)
    try:
        found, notes = budgets(
            limiter,
            salesforce=context.salesforce() if live else None,
            marketo=context.marketo() if live else None,
        )
        shares = writeback_shares(limiter)
    except redis.RedisError as error:
        # The rest of the report comes from the database and is still worth showing.
        found, shares, notes = [], [], [f"budgets unknown: Redis (REDIS_URL) did not answer ({type(error).__name__})"]
    if settings.embedded:
        notes.append(
            "embedded mode (no REDIS_URL): budgets are counted inside the process that syncs; "
            "this command's own count starts empty"
        )
    report["budgets"] = [b.as_dict() for b in found]
    report["writeback_budgets"] = [b.as_dict() for b in shares]
    report["notes"] = notes
    return report


def render(console: Console, report: dict[str, Any]) -> None:
    _connection(console, report["connection"])
    _runs(console, report["runs"])
    if report["runs"]:
        _latest(console, report["runs"][0])
    _backlog(console, report["backlog"])
    _budgets(console, report["budgets"] + report["writeback_budgets"], report["backlog"])
    for note in report["notes"]:
        console.print(f"[dim]note: {note}[/dim]")


def _connection(console: Console, connection: dict[str, Any] | None) -> None:
    if connection is None:
        console.print("[yellow]No Salesforce org recorded yet[/yellow]: run `msi-sync connect`.")
        return
    verified = f"verified {when(connection['checked_at'])}" if connection["verified"] else "[yellow]unverified[/yellow]"
    console.print(
        f"Connected to {connection['environment']} org [bold]{connection['org_id']}[/bold] "
        f"since {when(connection['connected_at'])} ({verified})"
    )


def _runs(console: Console, runs: list[dict[str, Any]]) -> None:
    if not runs:
        console.print("No runs yet.")
        return
    table = Table(title="Last runs")
    for column in ("run", "kind", "status", "trigger", "started", "seconds", "synced", "skipped", "failed", "error"):
        table.add_column(
            column, justify="right" if column in ("run", "seconds", "synced", "skipped", "failed") else "left"
        )
    for run in runs:
        totals = {
            key: sum(counts.get(key, 0) for counts in run["objects"].values())
            for key in ("synced", "skipped", "failed")
        }
        colour = {"succeeded": "green", "failed": "red", "running": "cyan"}.get(run["status"], "white")
        table.add_row(
            str(run["run"]),
            run["kind"],
            f"[{colour}]{run['status']}[/{colour}]",
            run["trigger"],
            when(run["started_at"]),
            f"{run['seconds']:.0f}",
            f"{totals['synced']:,}",
            f"{totals['skipped']:,}",
            f"{totals['failed']:,}",
            (run["error"] or "")[:60],
        )
    console.print(table)


def _latest(console: Console, run: dict[str, Any]) -> None:
    objects = Table(title=f"Run {run['run']} by object type")
    columns = ("extracted", "synced", "skipped", "invalid", "failed", "warnings", "retried", "calls")
    objects.add_column("object type")
    for column in columns:
        objects.add_column(column, justify="right")
    for kind, counts in run["objects"].items():
        objects.add_row(kind, *(f"{counts.get(c, 0):,}" for c in columns))
    console.print(objects)
    steps = Table(title=f"Run {run['run']} by step (stage order)")
    for column in ("step", "status", "records", "synced", "failed", "chunks", "waiting"):
        steps.add_column(column, justify="left" if column in ("step", "status") else "right")
    for step in run["steps"]:
        if not step["records"] and step["status"] in ("done", "-"):
            continue
        steps.add_row(
            step["step"],
            step["status"],
            f"{step['records']:,}",
            f"{step['synced']:,}",
            f"{step['failed']:,}",
            f"{step['chunks_ended']}/{step['chunks']}",
            str(step["chunks_waiting"] or ""),
        )
    if steps.row_count:
        console.print(steps)


def _backlog(console: Console, backlog: dict[str, Any]) -> None:
    by_type = ", ".join(f"{kind} {n:,}" for kind, n in backlog["open_by_object_type"].items()) or "none"
    console.print(
        f"[bold]Backlog[/bold]: {backlog['open_failures']:,} open failed records, "
        f"{backlog['open_warnings']:,} open warnings (by object type: {by_type})"
    )
    if backlog["open_by_code"]:
        codes = ", ".join(f"{c['code']} {c['count']:,}" for c in backlog["open_by_code"][:5])
        console.print(f"  most common codes: {codes}  (`msi-sync failures list --code CODE`)")
    for wait in backlog["waiting_chunks"]:
        console.print(
            f"  run {wait['run']} {wait['step']}: {wait['chunks']} chunks ({wait['records']:,} records) wait for "
            f"a budget until {when(wait['due_at'])}"
        )
    for run in backlog["running"]:
        console.print(f"  run {run['run']} running since {when(run['started_at'])}:")
        for step in run["steps"]:
            bar = ProgressBar(total=max(step["records"], 1), completed=step["synced"] + step["failed"], width=30)
            line = Table.grid(padding=(0, 1))
            line.add_row(f"    {step['step']:<22}", bar, f"{step['synced'] + step['failed']:,}/{step['records']:,}")
            console.print(line)


def _budgets(console: Console, budgets: list[dict[str, Any]], backlog: dict[str, Any]) -> None:
    table = Table(title="API budgets")
    for column in ("budget", "source", "used", "left", "limit", "resets"):
        table.add_column(column, justify="right" if column in ("used", "left", "limit") else "left")
    for budget in budgets:
        left = f"[red]{budget['left']:,}[/red]" if budget["exhausted"] else f"{budget['left']:,}"
        resets = when(budget["resets_at"]) if budget["resets_at"] else budget["window"].split(":")[0]
        table.add_row(budget["name"], budget["source"], f"{budget['used']:,}", left, f"{budget['limit']:,}", resets)
    console.print(table)
    waiting = sum(w["chunks"] for w in backlog["waiting_chunks"])
    for budget in budgets:
        if budget["exhausted"]:
            resume = (
                f"at {when(budget['resets_at'])}" if budget["resets_at"] else "as the rolling 24 h window frees calls"
            )
            console.print(
                f"[red]{budget['name']} is used up[/red]: syncing waits and resumes by itself {resume}"
                + (f" ({waiting} chunks waiting)" if waiting else "")
            )
