"""Fixtures for the client tests."""

from __future__ import annotations

# ---------------------------------------------------------------------------------------
# Marketo client fixtures (owner: Marketo simulator/client). Salesforce fixtures go in
# their own block; keep the two apart.
# ---------------------------------------------------------------------------------------
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from clients.limiter import LimiterConfig, LocalLimiter
from clients.marketo import MarketoClient
from clients.token_cache import LocalTokenCache
from simulators.marketo import MarketoSimulator


@pytest.fixture(scope="session")
def _shared_marketo_client_sim() -> Iterator[MarketoSimulator]:
    sim = MarketoSimulator(seed=11, size=30).start()
    yield sim
    sim.stop()


@pytest.fixture
def marketo_client_sim(_shared_marketo_client_sim: MarketoSimulator) -> MarketoSimulator:
    """A shared simulator, back at its seeded start for every test."""
    _shared_marketo_client_sim.reset()
    return _shared_marketo_client_sim


@pytest.fixture
def marketo_limiter() -> LocalLimiter:
    return LocalLimiter(LimiterConfig(marketo_calls_per_window=100, marketo_max_concurrency=10))


@pytest.fixture
def make_marketo_client(
    marketo_client_sim: MarketoSimulator, marketo_limiter: LocalLimiter
) -> Callable[..., MarketoClient]:
    """A real MarketoClient for a simulator (the shared one unless `sim=` is given)."""

    def make(sim: MarketoSimulator | None = None, **overrides: Any) -> MarketoClient:
        target = sim or marketo_client_sim
        options: dict[str, Any] = {
            "base_url": target.url,
            "client_id": "msi-sync-demo",
            "client_secret": "demo-secret",
            "limiter": marketo_limiter,
            "token_cache": LocalTokenCache(),
            "timeout": 10.0,
        }
        options.update(overrides)
        return MarketoClient(**options)

    return make


@pytest.fixture
def marketo_client(make_marketo_client: Callable[..., MarketoClient]) -> MarketoClient:
    return make_marketo_client()


# --- end of the Marketo block -------------------------------------------------------------


# ---------------------------------------------------------------------------------------
# Salesforce client fixtures (owner: Salesforce simulator/client). The real client against
# the simulator over real sockets; trust comes from REQUESTS_CA_BUNDLE as in production.
# ---------------------------------------------------------------------------------------
from clients.salesforce import SalesforceClient  # noqa: E402
from simulators.salesforce import SalesforceSimulator  # noqa: E402


@pytest.fixture(scope="session")
def _shared_salesforce_client_sim() -> Iterator[SalesforceSimulator]:
    sim = SalesforceSimulator(seed=13, size=8000, bad_input=True).start()
    yield sim
    sim.stop()


@pytest.fixture
def salesforce_sim(
    _shared_salesforce_client_sim: SalesforceSimulator, monkeypatch: pytest.MonkeyPatch
) -> SalesforceSimulator:
    """A shared simulator (seed 13, 8,000 records with bad input), reset for every test, and trusted."""
    _shared_salesforce_client_sim.reset()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(_shared_salesforce_client_sim.ca_bundle))
    return _shared_salesforce_client_sim


@pytest.fixture
def salesforce_limiter() -> LocalLimiter:
    return LocalLimiter(LimiterConfig())


@pytest.fixture
def make_salesforce_client(
    salesforce_sim: SalesforceSimulator,
    salesforce_limiter: LocalLimiter,
    salesforce_client_for: Callable[..., SalesforceClient],
) -> Callable[..., SalesforceClient]:
    """A real SalesforceClient for a simulator (the shared one unless `sim=` is given)."""

    def make(sim: SalesforceSimulator | None = None, **overrides: Any) -> SalesforceClient:
        options: dict[str, Any] = {
            "client_id": "msi-sync-demo",
            "client_secret": "demo-secret",
            "limiter": salesforce_limiter,
        }
        return salesforce_client_for(sim or salesforce_sim, **{**options, **overrides})

    return make


# --- end of the Salesforce block -----------------------------------------------------------
