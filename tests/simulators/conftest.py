"""Fixtures for the simulator tests."""

from __future__ import annotations

# ---------------------------------------------------------------------------------------
# Marketo simulator fixtures (owner: Marketo simulator/client). Salesforce fixtures go in
# their own block below; keep the two apart.
# ---------------------------------------------------------------------------------------
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from simulators.marketo import MarketoSimulator


class MarketoHttp:
    """Hand-built HTTP calls to a Marketo simulator, independent of clients/marketo.py."""

    def __init__(self, sim: MarketoSimulator) -> None:
        self.sim = sim
        self.session = requests.Session()
        self._token: str | None = None

    def identity(self, **params: str) -> requests.Response:
        query = {"grant_type": "client_credentials", "client_id": "msi-sync-demo", "client_secret": "demo-secret"}
        query.update(params)
        return self.session.get(self.sim.url + "/identity/oauth/token", params=query, timeout=10)

    def token(self) -> str:
        if self._token is None:
            self._token = self.identity().json()["access_token"]
        return self._token

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}"}

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        response = self.session.get(self.sim.url + path, params=params, headers=self.headers(), timeout=30)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def post(self, path: str, body: Any = None, **params: Any) -> dict[str, Any]:
        response = self.session.post(
            self.sim.url + path, json=body, params=params, headers=self.headers(), timeout=30
        )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def sync(self, obj: str, records: list[dict[str, Any]], **options: Any) -> dict[str, Any]:
        path = "/rest/v1/opportunities/roles.json" if obj == "roles" else f"/rest/v1/{obj}.json"
        return self.post(path, {"input": records, **options})


@pytest.fixture
def marketo_sim_factory() -> Iterator[Callable[..., MarketoSimulator]]:
    """Start simulators with any constructor arguments; all are stopped after the test."""
    started: list[MarketoSimulator] = []

    def start(**kwargs: Any) -> MarketoSimulator:
        sim = MarketoSimulator(**kwargs).start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture(scope="session")
def _shared_marketo_sim() -> Iterator[MarketoSimulator]:
    sim = MarketoSimulator(seed=7, size=20).start()
    yield sim
    sim.stop()


@pytest.fixture
def marketo_sim(_shared_marketo_sim: MarketoSimulator) -> MarketoSimulator:
    """The shared default simulator (seed 7, 20 seeded leads), reset to its start for each test."""
    _shared_marketo_sim.reset()
    return _shared_marketo_sim


@pytest.fixture
def mkto(marketo_sim: MarketoSimulator) -> MarketoHttp:
    return MarketoHttp(marketo_sim)


@pytest.fixture
def mkto_for() -> Callable[[MarketoSimulator], MarketoHttp]:
    """Hand-built HTTP access to any simulator the test started itself."""
    return MarketoHttp


@pytest.fixture
def mkto_with_owner(mkto: MarketoHttp) -> MarketoHttp:
    """A simulator holding sales person 005A and company 001A (owned by 005A)."""
    mkto.sync("salespersons", [{"externalSalesPersonId": "005A", "email": "owner@example.com"}])
    mkto.sync("companies", [{"externalCompanyId": "001A", "company": "Acme", "externalSalesPersonId": "005A"}])
    return mkto


# --- end of the Marketo block -------------------------------------------------------------
