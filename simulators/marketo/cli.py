"""`msi-sync simulate marketo`: run the Marketo simulator as a server until Ctrl-C."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import click

from simulators.common.faults import FaultPlan
from simulators.marketo.simulator import MarketoSimulator


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=0, type=int, help="0 picks a free port.")
@click.option("--seed", default=0, type=int, show_default=True)
@click.option("--size", default=0, type=int, show_default=True, help="Seeded marketing leads to start with.")
@click.option("--client-id", default="msi-sync-demo", show_default=True)
@click.option("--client-secret", default="demo-secret", show_default=True)
@click.option("--daily-quota", default=50_000, type=int, show_default=True)
@click.option("--time-scale", default=1.0, type=float, show_default=True, help="Divides every duration.")
@click.option("--latency-per-call", default=0.0, type=float, show_default=True)
@click.option("--latency-per-record", default=0.0, type=float, show_default=True)
@click.option("--msi-epoch-seconds", default=None, type=float, help="Advance MSI fields every N (scaled) seconds.")
@click.option("--tls/--no-tls", default=False, show_default=True)
@click.option("--tls-dir", default=None, type=click.Path(file_okay=False, path_type=Path))
@click.option("--faults", "faults_json", default=None, help='FaultPlan as JSON: \'{"rates": {"http_502": 0.01}}\'.')
def command(
    host: str,
    port: int,
    seed: int,
    size: int,
    client_id: str,
    client_secret: str,
    daily_quota: int,
    time_scale: float,
    latency_per_call: float,
    latency_per_record: float,
    msi_epoch_seconds: float | None,
    tls: bool,
    tls_dir: Path | None,
    faults_json: str | None,
) -> None:
    """Serve a simulated Marketo instance (REST API, Identity and the /_sim/ control API)."""
    try:
        faults = FaultPlan.from_dict(json.loads(faults_json)) if faults_json else FaultPlan()
    except (ValueError, TypeError) as error:
        raise click.BadParameter(f"not a fault plan: {error}", param_hint="--faults") from None
    sim = MarketoSimulator(
        seed,
        size,
        client_id=client_id,
        client_secret=client_secret,
        daily_quota=daily_quota,
        time_scale=time_scale,
        latency_per_call=latency_per_call,
        latency_per_record=latency_per_record,
        msi_epoch_seconds=msi_epoch_seconds,
        tls=tls,
        tls_dir=tls_dir,
        host=host,
        port=port,
        faults=faults,
    ).start()
    click.echo(f"Marketo simulator at {sim.url}")
    if sim.ca_bundle:
        click.echo(f"CA bundle: {sim.ca_bundle}")
    click.echo(f"MARKETO_BASE_URL={sim.url}")
    click.echo(f"MARKETO_CLIENT_ID={client_id}")
    click.echo(f"MARKETO_CLIENT_SECRET={client_secret}")
    if sim.ca_bundle:
        click.echo(f"REQUESTS_CA_BUNDLE={sim.ca_bundle}")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        sim.stop()
