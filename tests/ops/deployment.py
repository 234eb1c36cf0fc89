"""Simulated orgs for the operator tests: production and sandbox orgs with known ids, one Marketo, settings for them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clients.limiter import LimiterConfig, LocalLimiter
from clients.marketo import MarketoClient
from clients.salesforce import SalesforceClient
from clients.sfids import to_18
from clients.token_cache import LocalTokenCache
from simulators.marketo import MarketoSimulator
from simulators.salesforce import SalesforceSimulator
from worker.settings import Settings, load_settings

PRODUCTION_ORG = to_18("00D5g0000000001")
OTHER_PRODUCTION_ORG = to_18("00D5g0000000002")
SANDBOX_ORG = to_18("00D1x0000000003")
OTHER_SANDBOX_ORG = to_18("00D1x0000000004")


@dataclass
class Orgs:
    """Four Salesforce orgs (two production, two sandboxes), one Marketo, and one CA bundle trusting them all."""

    production: SalesforceSimulator
    other_production: SalesforceSimulator
    sandbox: SalesforceSimulator
    other_sandbox: SalesforceSimulator
    marketo: MarketoSimulator
    ca_bundle: Path

    def all(self) -> list[SalesforceSimulator]:
        return [self.production, self.other_production, self.sandbox, self.other_sandbox]


def start_orgs(folder: Path, size: int = 30) -> Orgs:
    sims = {
        name: SalesforceSimulator(seed=5, size=size, org_id=org, sandbox=sandbox, tls_dir=folder / name).start()
        for name, org, sandbox in (
            ("production", PRODUCTION_ORG, False),
            ("other_production", OTHER_PRODUCTION_ORG, False),
            ("sandbox", SANDBOX_ORG, True),
            ("other_sandbox", OTHER_SANDBOX_ORG, True),
        )
    }
    bundle = folder / "all-cas.pem"
    # Each simulator has its own throw-away CA; one bundle lets a client trust whichever it is pointed at.
    bundle.write_text("".join(sim.ca_bundle.read_text() for sim in sims.values()))
    return Orgs(**sims, marketo=MarketoSimulator(seed=5).start(), ca_bundle=bundle)


def stop_orgs(orgs: Orgs) -> None:
    for sim in orgs.all():
        sim.stop()
    orgs.marketo.stop()


def env_for(
    salesforce: SalesforceSimulator, marketo: MarketoSimulator, database_url: str, environment: str, **extra: str
) -> dict[str, str]:
    """The settings (as environment variables) of a deployment pointed at these simulators."""
    return {
        "SALESFORCE_LOGIN_URL": salesforce.url,
        "SALESFORCE_CLIENT_ID": salesforce.client_id,
        "SALESFORCE_CLIENT_SECRET": salesforce.client_secret,
        "SALESFORCE_ENVIRONMENT": environment,
        "MARKETO_BASE_URL": marketo.url,
        "MARKETO_CLIENT_ID": marketo.config.client_id,
        "MARKETO_CLIENT_SECRET": marketo.config.client_secret,
        "DATABASE_URL": database_url,
        **extra,
    }


def settings_for(
    salesforce: SalesforceSimulator, marketo: MarketoSimulator, database_url: str, environment: str, **extra: Any
) -> Settings:
    return load_settings(REDIS_URL=None, **{**env_for(salesforce, marketo, database_url, environment), **extra})


def clients_for(settings: Settings) -> tuple[SalesforceClient, MarketoClient]:
    limiter = LocalLimiter(LimiterConfig())
    return (
        SalesforceClient.from_settings(settings, limiter),
        MarketoClient.from_settings(settings, limiter, LocalTokenCache()),
    )
