"""`msi-sync failures`: the records that did not reach Marketo, with the API's reason; retry, dismiss, export."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from cli.output import emit_json, explained, make_console, when
from models.records import KIND_ERROR, KIND_WARNING
from ops.failures import STATUSES, FailureFilter, parse_ids
from pipeline import objects as o


@click.group("failures")
def failures_group() -> None:
    """Records that did not reach Marketo (or reached it with a value dropped), and why."""


def _filters(command: Callable[..., Any]) -> Callable[..., Any]:
    """The same filter options on every subcommand that works on several failures."""
    options = (
        click.option("--object-type", type=click.Choice(o.OBJECT_TYPES), help="Only this Marketo object type."),
        click.option("--code", help="Only this error code (Marketo's 1004, Salesforce's FIELD_..., ours)."),
        click.option("--status", type=click.Choice(STATUSES), help="Only failures in this status."),
        click.option("--kind", type=click.Choice((KIND_ERROR, KIND_WARNING)), help="Errors or warnings only."),
        click.option("--json", "as_json", is_flag=True, help="Machine-readable output."),
    )
    for option in reversed(options):
        command = option(command)
    return command


def _session_url() -> str:
    from models.db import migrate
    from worker import context

    url = context.settings().DATABASE_URL
    migrate(url)
    return url


def _database(as_json: bool) -> str:
    return explained(as_json, _session_url)


def _where(ids: tuple[str, ...], **given: Any) -> FailureFilter:
    try:
        parsed = parse_ids(ids)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="IDS") from None
    return FailureFilter(
        object_type=given.get("object_type"),
        code=given.get("code"),
        status=given.get("status"),
        kind=given.get("kind"),
        ids=parsed,
    )


def _pass_filters(command: Callable[..., None]) -> Callable[..., None]:
    @wraps(command)
    def wrapper(
        object_type: str | None, code: str | None, status: str | None, kind: str | None, as_json: bool, **rest: Any
    ) -> None:
        ids = rest.pop("ids", ())
        where = _where(ids, object_type=object_type, code=code, status=status, kind=kind)
        command(where=where, as_json=as_json, **rest)

    return wrapper


@failures_group.command("list")
@_filters
@click.option("--limit", default=50, show_default=True, help="Show at most this many (newest first).")
@_pass_filters
def list_command(where: FailureFilter, as_json: bool, limit: int) -> None:
    """List failures, newest first (default: every status)."""
    from models.db import session_scope
    from ops.failures import list_failures

    with session_scope(_database(as_json)) as session:
        total, rows = list_failures(session, where, limit)
    if as_json:
        emit_json({"total": total, "shown": len(rows), "failures": rows})
        return
    console = make_console()
    table = Table(title=f"{total:,} failures" + (f" (newest {len(rows)})" if total > len(rows) else ""))
    for column in ("id", "object", "Salesforce id", "kind", "code", "status", "tries", "last seen", "reason"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["object_type"],
            row["sf_id"],
            row["kind"],
            row["code"],
            row["status"],
            str(row["attempts"]),
            when(row["last_seen_at"]),
            row["message"][:80],
        )
    console.print(table)


@failures_group.command("show")
@click.argument("failure_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def show_command(failure_id: int, as_json: bool) -> None:
    """One failure with the API's reason and what its payload holds (ids only, no personal data)."""
    from models.db import session_scope
    from ops.failures import show_failure

    with session_scope(_database(as_json)) as session:
        found = show_failure(session, failure_id)
    if found is None:
        if as_json:
            emit_json({"status": "not-found", "id": failure_id})
        else:
            make_console(stderr=True).print(f"no failure {failure_id} (see `msi-sync failures list`)")
        sys.exit(1)
    if as_json:
        emit_json(found)
        return
    console = make_console()
    grid = Table.grid(padding=(0, 2))
    for name in ("id", "object_type", "sobject", "sf_id", "step", "kind", "code", "status", "attempts", "run_id"):
        grid.add_row(name, str(found[name]))
    for name in ("first_seen_at", "last_seen_at", "resolved_at"):
        grid.add_row(name, when(found[name]))
    grid.add_row("reason", found["message"])
    payload = found["payload"]
    if payload is None:
        grid.add_row("payload", "none stored: retried when the record changes in Salesforce (or `sync --full`)")
    else:
        grid.add_row("payload ids", ", ".join(f"{k}={v}" for k, v in payload["ids"].items()) or "-")
        grid.add_row("fields set", ", ".join(payload["fields_set"]) or "-")
        grid.add_row("fields empty", ", ".join(payload["fields_empty"]) or "-")
    console.print(grid)


@failures_group.command("retry")
@click.argument("ids", nargs=-1)
@_filters
@_pass_filters
def retry_command(where: FailureFilter, as_json: bool) -> None:
    """Have the next cycle send these failures again (IDS and/or filters; dismissed ones are re-opened)."""
    from models.db import session_scope
    from ops.failures import retry_failures

    _require_selection(where)
    with session_scope(_database(as_json)) as session:
        counts = retry_failures(session, where)
    if as_json:
        emit_json({"status": "ok", **counts})
        return
    console = make_console()
    console.print(
        f"{counts['retried']:,} failures will be sent again by the next cycle "
        f"({counts['reopened']:,} re-opened from dismissed)."
    )
    if counts["needs_change"]:
        console.print(
            f"{counts['needs_change']:,} of them have no stored payload: they come back when the record "
            "changes in Salesforce, or with `msi-sync sync --full`."
        )


@failures_group.command("dismiss")
@click.argument("ids", nargs=-1)
@_filters
@_pass_filters
def dismiss_command(where: FailureFilter, as_json: bool) -> None:
    """Stop retrying these open failures (IDS and/or filters); they stay listed as dismissed."""
    from models.db import session_scope
    from ops.failures import dismiss_failures

    _require_selection(where)
    with session_scope(_database(as_json)) as session:
        count = dismiss_failures(session, where)
    if as_json:
        emit_json({"status": "ok", "dismissed": count})
    else:
        make_console().print(f"{count:,} failures dismissed (`msi-sync failures retry ID` brings one back).")


@failures_group.command("export")
@click.option(
    "--csv",
    "path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Write the failures to this CSV file (no payloads).",
)
@_filters
@_pass_filters
def export_command(where: FailureFilter, as_json: bool, path: Path) -> None:
    """Export failures (default: all) to a CSV file."""
    from models.db import session_scope
    from ops.failures import export_csv

    console = make_console(stderr=True)
    with session_scope(_database(as_json)) as session:
        if as_json or not console.is_terminal:
            count = export_csv(session, where, path)
        else:
            columns = (TextColumn("exporting"), BarColumn(), MofNCompleteColumn())
            with Progress(*columns, console=console) as bars:
                task = bars.add_task("export", total=None)
                count = export_csv(
                    session, where, path, progress=lambda done, total: bars.update(task, completed=done, total=total)
                )
    if as_json:
        emit_json({"status": "ok", "exported": count, "path": str(path)})
    else:
        make_console().print(f"{count:,} failures written to {path}")


def _require_selection(where: FailureFilter) -> None:
    if where.empty:
        raise click.UsageError("name failure IDS or at least one filter (--object-type, --code, --status, --kind)")
