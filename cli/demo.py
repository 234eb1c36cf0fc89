"""`msi-sync demo`: a full sync on embedded defaults against the built-in simulators, in one process."""

from __future__ import annotations

import os
import time
from pathlib import Path

import click
from rich.console import Console

from cli.output import make_console
from cli.report import print_run
from cli.watch import watch_run

DEMO_DATABASE = Path("var/demo.db")


@click.command("demo")
@click.option("--size", default=3000, show_default=True, help="Business records in the generated Salesforce org.")
@click.option("--seed", default=7, show_default=True, help="Seed of the generated org (same seed, same org).")
@click.option("--changes", default=100, show_default=True, help="Changes made in Salesforce before a second cycle.")
@click.option("--json", "as_json", is_flag=True, help="Print the run summaries as JSON.")
def demo_command(size: int, seed: int, changes: int, as_json: bool) -> None:
    """Generate an org, run a full sync into a simulated Marketo, change some records, sync again."""
    from simulators.marketo import MarketoSimulator
    from simulators.salesforce import SalesforceSimulator

    console = make_console()
    console.print(f"Generating a Salesforce org of {size:,} records (seed {seed}) and an empty Marketo...")
    salesforce = SalesforceSimulator(seed=seed, size=size).start()
    marketo = MarketoSimulator(seed=seed).start()
    try:
        _point_settings_at(salesforce, marketo)
        from models.db import migrate
        from worker import context
        from worker.celery_app import reconfigure
        from worker.embedded import embedded_worker

        settings = context.settings()
        migrate(settings.DATABASE_URL)
        reconfigure(settings)
        with embedded_worker(loglevel=settings.LOG_LEVEL if settings.LOG_LEVEL != "INFO" else "WARNING"):
            first = _cycle(console, "full sync", as_json)
            counts = marketo.store.counts()
            console.print("Marketo now holds: " + ", ".join(f"{n:,} {obj}" for obj, n in counts.items()))
            done = salesforce.org.mutate(seed + 1, changes)
            console.print(f"Made {len(done)} changes in Salesforce (updates, new records, deletes, conversions)...")
            second = _cycle(console, "incremental sync", as_json)
        calls = [e for e in marketo.log.all() if e.operation not in ("identity",)]
        console.print(
            f"Marketo calls: {len(calls):,} in all; "
            f"rejected for rate or concurrency: {sum(1 for e in calls if e.error_code in ('606', '615'))}"
        )
        if first.status != "succeeded" or second.status != "succeeded":
            raise SystemExit(1)
    finally:
        salesforce.stop()
        marketo.stop()


def _point_settings_at(salesforce: object, marketo: object) -> None:
    """Embedded defaults: the simulators' URLs and demo credentials, a fresh SQLite file, no Redis."""
    from worker import context

    DEMO_DATABASE.parent.mkdir(parents=True, exist_ok=True)
    for leftover in DEMO_DATABASE.parent.glob(DEMO_DATABASE.name + "*"):
        leftover.unlink()
    env = dict(salesforce.env())  # type: ignore[attr-defined]
    env.update(
        {
            "MARKETO_BASE_URL": marketo.url,  # type: ignore[attr-defined]
            "MARKETO_CLIENT_ID": marketo.config.client_id,  # type: ignore[attr-defined]
            "MARKETO_CLIENT_SECRET": marketo.config.client_secret,  # type: ignore[attr-defined]
            "DATABASE_URL": f"sqlite:///{DEMO_DATABASE}",
            # The simulator enforces Marketo's real limits; the demo may use all of them.
            "MARKETO_CALLS_PER_20S": "100",
            "MARKETO_MAX_CONCURRENCY": "10",
        }
    )
    os.environ.pop("REDIS_URL", None)
    os.environ.update(env)
    context.reset()


def _cycle(console: Console, label: str, as_json: bool):  # type: ignore[no-untyped-def]
    from tasks.cycle import start_cycle
    from tasks.sweeper import sweep
    from worker import context

    console.print(f"Running the {label}...")
    # The worker runs in this process, so Celery must be told this wait is not inside a task.
    answer = start_cycle.apply_async(kwargs={"trigger": "demo"}).get(timeout=120, disable_sync_subtasks=False)
    last_sweep = [time.monotonic()]

    def tick() -> None:
        # No beat in the demo: the sweeper runs from here instead.
        if time.monotonic() - last_sweep[0] > 30:
            sweep.apply_async()
            last_sweep[0] = time.monotonic()

    run = watch_run(context.database_url(), int(answer["run"]), console, tick=tick)
    print_run(run, console, as_json=as_json)
    return run
