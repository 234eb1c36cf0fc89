"""Reading the deployment files as docker compose would: YAML, env files, ${...} interpolation, commands."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import click
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
DEMO_ENV = REPO / "deploy" / "demo.env"

_LISTED = re.compile(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")
_VARIABLE = re.compile(r"\$\{([A-Z][A-Z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE_FILE.read_text()))


def services() -> dict[str, dict[str, Any]]:
    return dict(compose()["services"])


def env_file_lines(path: Path) -> list[tuple[str, str, bool, int]]:
    """(name, value, active, line number) of every `NAME=value` or `# NAME=value` line."""
    found = []
    for number, line in enumerate(path.read_text().splitlines()):
        match = _LISTED.match(line.strip())
        if match:
            found.append((match.group(2), match.group(3), match.group(1) is None, number))
    return found


def active_values(path: Path) -> dict[str, str]:
    return {name: value for name, value, active, _ in env_file_lines(path) if active}


def interpolate(text: str, variables: dict[str, str]) -> str:
    """Compose's ${NAME}, ${NAME:-default} and ${NAME:?error}; `$$` is a literal `$`."""

    def value(match: re.Match[str]) -> str:
        name, operator, argument = match.group(1), match.group(2), match.group(3)
        current = variables.get(name, "")
        if operator == ":?" and not current:
            raise ValueError(f"{name} is required: {argument}")
        if operator == ":-" and not current:
            return argument or ""
        return current

    return _VARIABLE.sub(value, text.replace("$$", "\0")).replace("\0", "$")


def variables_used() -> set[str]:
    return {match.group(1) for match in _VARIABLE.finditer(COMPOSE_FILE.read_text())}


def command_of(service: dict[str, Any], variables: dict[str, str]) -> list[str]:
    return [interpolate(str(part), variables) for part in service["command"]]


def healthcheck_command(service: dict[str, Any], variables: dict[str, str]) -> list[str]:
    test = [interpolate(str(part), variables) for part in service["healthcheck"]["test"]]
    return shlex.split(test[1]) if test[0] == "CMD-SHELL" else test[1:]


def parse_celery(argv: list[str]) -> tuple[str, dict[str, Any]]:
    """Parse `celery -A worker <sub> ...` with Celery's own click commands (unknown options fail)."""
    from celery.bin.base import CLIContext
    from celery.bin.celery import celery

    from worker.celery_app import app

    assert argv[:3] == ["celery", "-A", "worker"], argv
    parent = click.Context(celery, info_name="celery", obj=CLIContext(app=app, no_color=True, workdir=None, quiet=True))
    name, *rest = argv[3:]
    sub = celery.commands[name]
    return name, dict(sub.make_context(name, rest, parent=parent).params)


def parse_msi_sync(argv: list[str]) -> tuple[str, dict[str, Any]]:
    """Parse `msi-sync <sub> [<sub>] ...` with our click app; returns the command path and its params."""
    from cli.main import _register, cli

    assert argv[0] == "msi-sync", argv
    _register()
    command: click.Command = cli
    context = click.Context(cli, info_name="msi-sync")
    path, rest = [], argv[1:]
    while isinstance(command, click.Group):
        name, *rest = rest
        found = command.get_command(context, name)
        assert found is not None, f"msi-sync has no command {' '.join([*path, name])}"
        path.append(name)
        command = found
        context = click.Context(command, info_name=name, parent=context)
    params = command.make_context(path[-1], rest, parent=context.parent).params
    return " ".join(path), dict(params)
