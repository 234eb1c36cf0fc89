"""Entry point of the `msi-sync` command: one group, subcommands registered from their modules."""

from __future__ import annotations

import sys

import click

from clients.errors import ConfigurationError, MsiSyncError


@click.group()
def cli() -> None:
    """Keep Marketo in step with Salesforce for Marketo Sales Insight."""


@cli.group()
def simulate() -> None:
    """Run the built-in Salesforce and Marketo simulators as servers."""


def _register() -> None:
    from cli.connect import connect_command
    from cli.demo import demo_command
    from cli.doctor import doctor_command
    from cli.failures import failures_group
    from cli.status import status_command
    from cli.sync import sync_command
    from cli.writeback import writeback_command
    from simulators.marketo.cli import command as marketo_command
    from simulators.salesforce.cli import command as salesforce_command

    cli.add_command(demo_command)
    cli.add_command(sync_command)
    cli.add_command(connect_command)
    cli.add_command(status_command)
    cli.add_command(failures_group)
    cli.add_command(doctor_command)
    cli.add_command(writeback_command)
    simulate.add_command(salesforce_command, "salesforce")
    simulate.add_command(marketo_command, "marketo")


def main() -> None:
    """Run the CLI; a configuration or API error ends with its message, not a traceback."""
    try:
        _register()
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except ConfigurationError as error:
        click.echo(f"configuration error: {error}", err=True)
        sys.exit(2)
    except MsiSyncError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
