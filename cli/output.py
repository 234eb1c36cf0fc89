"""Output shared by the operator commands: JSON for machines, and errors that end a command cleanly."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console

from clients.errors import ConfigurationError, MsiSyncError

T = TypeVar("T")
# Off a terminal (a log file, a pipe, CI) nothing has to fit a screen: wide enough that no
# table cell is cut short.
PLAIN_WIDTH = 160


def make_console(*, stderr: bool = False) -> Console:
    """A console for people: the terminal's own width on a terminal, PLAIN_WIDTH otherwise."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else PLAIN_WIDTH)


def emit_json(data: Any) -> None:
    """One JSON document on stdout (no colour, no wrapping), whatever the terminal."""
    click.echo(json.dumps(data, indent=2, default=_plain))


def fail(error: MsiSyncError, *, as_json: bool, console: Console | None = None) -> NoReturn:
    """End the command on an error it can explain: exit 2 for configuration, 1 otherwise."""
    code = 2 if isinstance(error, ConfigurationError) else 1
    if as_json:
        emit_json({"status": "error", "error": type(error).__name__, "action": error.action, "message": str(error)})
    else:
        (console or make_console(stderr=True)).print(f"[red]error:[/red] {error}", highlight=False)
    sys.exit(code)


def explained(as_json: bool, work: Callable[[], T]) -> T:
    """Run `work`; an MsiSyncError ends the command with its message instead of a traceback."""
    try:
        return work()
    except MsiSyncError as error:
        fail(error, as_json=as_json)


def when(value: str | datetime | None) -> str:
    """A timestamp as people read it in a table (UTC, to the minute)."""
    if value is None:
        return "-"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
