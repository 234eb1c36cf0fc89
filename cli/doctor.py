"""`msi-sync doctor`: every check from tokens to a sample of synced people; exit 1 when a problem is found."""

from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from cli.output import emit_json, explained, make_console
from ops.doctor import MAX_SAMPLE, OK, PROBLEM, SKIPPED, Report

COLOURS = {OK: "green", PROBLEM: "red", SKIPPED: "dim"}


@click.command("doctor")
@click.option(
    "--sample",
    default=20,
    show_default=True,
    type=click.IntRange(0, MAX_SAMPLE),
    help="How many synced people to verify in Salesforce and Marketo (0: none).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def doctor_command(sample: int, as_json: bool) -> None:
    """Check credentials, the recorded org, Marketo's MSI fields, the write-back fields, and a sample of people."""
    from models.db import migrate
    from ops.doctor import build_clients, run_doctor
    from worker import context

    settings = explained(as_json, context.settings)
    explained(as_json, lambda: migrate(settings.DATABASE_URL))
    salesforce, marketo, earlier = build_clients(settings)
    console = make_console(stderr=True)
    if as_json or not console.is_terminal:
        report = run_doctor(settings, salesforce, marketo, sample=sample, earlier=earlier)
    else:
        columns = (TextColumn("{task.description:<40}"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, console=console, transient=True) as bars:
            task = bars.add_task("checking", total=None)
            report = run_doctor(
                settings,
                salesforce,
                marketo,
                sample=sample,
                earlier=earlier,
                progress=lambda what, done, total: bars.update(task, description=what, completed=done, total=total),
            )
    if as_json:
        emit_json({"problems": len(report.problems), "findings": [f.as_dict() for f in report.findings]})
    else:
        _print(make_console(), report)
    if report.problems:
        sys.exit(1)


def _print(console: Console, report: Report) -> None:
    for finding in report.findings:
        colour = COLOURS.get(finding.status, "yellow")
        mark = f"[{colour}]{finding.status.upper() if finding.status == PROBLEM else finding.status:<10}[/{colour}]"
        console.print(f"{mark} {finding.check}: {finding.detail}", highlight=False)
        for example in finding.examples:
            console.print(f"           e.g. {example}", highlight=False)
        if finding.fix and finding.status != OK:
            console.print(f"           fix: {finding.fix}", highlight=False)
    problems = len(report.problems)
    console.print(f"\n{problems} problem{'s' if problems != 1 else ''} found." if problems else "\nNo problems found.")
