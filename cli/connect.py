"""`msi-sync connect`: check both sets of credentials and record which Salesforce org this deployment serves."""

from __future__ import annotations

import sys

import click
from rich.console import Console

from cli.output import emit_json, explained, make_console
from ops.connection import ConnectOutcome, ConnectPlan


@click.command("connect")
@click.option(
    "--replace-org-and-clear-sync-state",
    "replace_org",
    is_flag=True,
    help="Replace the connected org by another org of the same environment, deleting the old org's id map, "
    "watermarks, failures, staged records and write-back memory (the next cycle is a full sync).",
)
@click.option("--yes", is_flag=True, help="Do not ask before clearing the old org's sync state.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def connect_command(replace_org: bool, yes: bool, as_json: bool) -> None:
    """Check the Salesforce and Marketo credentials and record the Salesforce org and environment.

    Sandbox to production is allowed (the sandbox's sync state is cleared); production back to a
    sandbox is refused; another org of the same environment needs --replace-org-and-clear-sync-state.
    """
    from models.db import migrate
    from ops.connection import connect, fresh_clients
    from worker import context

    console = make_console(stderr=as_json)
    settings = explained(as_json, context.settings)
    explained(as_json, lambda: migrate(settings.DATABASE_URL))

    def ask(plan: ConnectPlan) -> bool:
        if yes:
            return True
        if as_json:
            console.print(f"{plan.describe()}: this clears the old org's sync state; run again with --yes to confirm")
            return False
        _show_plan(console, plan)
        return click.confirm("Clear the old org's sync state and connect?", default=False)

    outcome = explained(
        as_json,
        lambda: connect(settings, *fresh_clients(settings), replace_org=replace_org, confirm=ask),
    )
    if as_json:
        emit_json(outcome.as_dict())
    else:
        _show_outcome(console, outcome)
    if not outcome.applied:
        sys.exit(1)


def _show_plan(console: Console, plan: ConnectPlan) -> None:
    console.print(f"[bold]{plan.describe()}[/bold]")
    for name, count in plan.to_clear.items():
        console.print(f"  deletes {count:,} rows of {name}")
    for note in plan.notes:
        console.print(f"  note: {note}")


def _show_outcome(console: Console, outcome: ConnectOutcome) -> None:
    plan = outcome.plan
    if not outcome.applied:
        console.print("[yellow]nothing changed[/yellow]")
        return
    console.print(f"[green]connected[/green]: {plan.describe()}")
    console.print(
        f"  Salesforce org {plan.found.org_id} ({plan.found.environment}) at {plan.found.instance_url}, "
        f"as user {plan.found.user_id}"
    )
    console.print(f"  Marketo: token issued; {outcome.marketo_used_today:,} API calls used today")
    for name, count in outcome.cleared.items():
        console.print(f"  cleared {count:,} rows of {name}")
    for note in plan.notes:
        console.print(f"  note: {note}")
