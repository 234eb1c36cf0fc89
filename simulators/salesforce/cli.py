"""`msi-sync simulate salesforce`: run the Salesforce simulator as an HTTPS server until Ctrl-C."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import click

from simulators.common.faults import FaultPlan
from simulators.salesforce.simulator import SalesforceSimulator


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=0, type=int, help="0 picks a free port.")
@click.option(
    "--public-host",
    default=None,
    help="Name other machines reach it by (e.g. a compose service): in the certificate and the URLs.",
)
@click.option("--seed", default=0, type=int, show_default=True)
@click.option(
    "--size",
    default=200,
    type=int,
    show_default=True,
    help="Business records (accounts, contacts, leads, opportunities, contact roles).",
)
@click.option(
    "--tls-dir",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write the throw-away CA and certificate (a temporary folder by default).",
)
@click.option("--client-id", default="msi-sync-demo", show_default=True)
@click.option("--client-secret", default="demo-secret", show_default=True)
@click.option("--api-limit", default=100_000, type=int, show_default=True, help="Daily API allocation (rolling 24 h).")
@click.option("--token-lifetime", default=7200.0, type=float, show_default=True, help="Seconds.")
@click.option("--latency-per-call", default=0.0, type=float, show_default=True)
@click.option("--latency-per-record", default=0.0, type=float, show_default=True)
@click.option("--bad-input", is_flag=True, help="Add the awkward data real orgs hold (bad emails, 15-char ids, ...).")
@click.option("--sandbox", is_flag=True, help="Organization.IsSandbox = true.")
@click.option(
    "--jwt-public-key",
    default=None,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="PEM public key that verifies JWT bearer assertions.",
)
@click.option(
    "--faults",
    "faults_json",
    default=None,
    help='FaultPlan as JSON: \'{"rates": {"http_503": 0.01}, "timeout_seconds": 30}\'.',
)
def command(
    host: str,
    port: int,
    public_host: str | None,
    seed: int,
    size: int,
    tls_dir: Path | None,
    client_id: str,
    client_secret: str,
    api_limit: int,
    token_lifetime: float,
    latency_per_call: float,
    latency_per_record: float,
    bad_input: bool,
    sandbox: bool,
    jwt_public_key: Path | None,
    faults_json: str | None,
) -> None:
    """Serve a simulated Salesforce org (OAuth token, REST API and the /_sim/ control API)."""
    try:
        faults = FaultPlan.from_dict(json.loads(faults_json)) if faults_json else FaultPlan()
    except (ValueError, TypeError) as error:
        raise click.BadParameter(f"not a fault plan: {error}", param_hint="--faults") from None
    started = time.monotonic()
    sim = SalesforceSimulator(
        seed,
        size,
        client_id=client_id,
        client_secret=client_secret,
        api_limit=api_limit,
        token_lifetime=token_lifetime,
        tls_dir=tls_dir,
        latency_per_call=latency_per_call,
        latency_per_record=latency_per_record,
        sandbox=sandbox,
        bad_input=bad_input,
        host=host,
        port=port,
        faults=faults,
        jwt_public_key_pem=jwt_public_key.read_bytes() if jwt_public_key else None,
        public_host=public_host,
    ).start()
    click.echo(f"Salesforce simulator at {sim.url} ({size:,} records, built in {time.monotonic() - started:.1f}s)")
    click.echo(f"CA bundle: {sim.ca_bundle}")
    for name, value in sim.env().items():
        click.echo(f"{name}={value}")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        sim.stop()
