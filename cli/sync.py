"""`msi-sync sync`: start a cycle on the workers, and optionally follow it to the end."""

from __future__ import annotations

import sys

import click

from cli.output import make_console
from cli.report import print_run
from cli.watch import watch_run
from clients.errors import ConfigurationError
from pipeline import objects as o
from worker import context


@click.command("sync")
@click.option(
    "--objects",
    "objects",
    multiple=True,
    type=click.Choice(o.OBJECT_TYPES),
    help="Only these Marketo object types (repeatable). Default: all, in dependency order.",
)
@click.option("--full", is_flag=True, help="Read everything, not only what changed since the last cycle.")
@click.option("--wait", is_flag=True, help="Follow the cycle to its end and print its summary.")
@click.option("--timeout", type=float, default=None, help="With --wait: give up waiting after this many seconds.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def sync_command(objects: tuple[str, ...], full: bool, wait: bool, timeout: float | None, as_json: bool) -> None:
    """Enqueue a sync cycle (the workers run it; Redis must be configured)."""
    from tasks.cycle import start_cycle

    settings = context.settings()
    if settings.embedded:
        raise ConfigurationError(
            "REDIS_URL is not set: `msi-sync sync` hands the cycle to the workers through Redis "
            "(for a self-contained run on embedded defaults, use `msi-sync demo`)",
            setting="REDIS_URL",
        )
    console = make_console()
    reply = start_cycle.apply_async(kwargs={"objects": list(objects) or None, "full": full, "trigger": "cli"})
    answer = reply.get(timeout=60)
    if answer.get("status") == "already-running":
        console.print(answer["message"] if not as_json else answer)
        sys.exit(3)
    run_id = int(answer["run"])
    if not wait:
        console.print({"status": "started", "run": run_id} if as_json else f"run {run_id} started")
        return
    run = watch_run(settings.DATABASE_URL, run_id, make_console(stderr=True) if as_json else console, timeout=timeout)
    print_run(run, console, as_json=as_json)
    if run.status != "succeeded":
        sys.exit(1)
