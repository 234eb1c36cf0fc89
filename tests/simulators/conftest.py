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
        response = self.session.post(self.sim.url + path, json=body, params=params, headers=self.headers(), timeout=30)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def sync(self, obj: str, records: list[dict[str, Any]], **options: Any) -> dict[str, Any]:
        path = "/rest/v1/opportunities/roles.json" if obj == "roles" else f"/rest/v1/{obj}.json"
        return self.post(path, {"input": records, **options})


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


# ---------------------------------------------------------------------------------------
# Salesforce simulator fixtures (owner: Salesforce simulator/client). Hand-built HTTP calls
# only: these tests pin the simulator to Salesforce's documented behaviour, independent of
# clients/salesforce.py.
# ---------------------------------------------------------------------------------------
from simulators.salesforce import SalesforceSimulator  # noqa: E402

SF_VERSION = "62.0"


class SalesforceHttp:
    """Requests to a Salesforce simulator built by hand, trusting its CA per request."""

    def __init__(self, sim: SalesforceSimulator) -> None:
        self.sim = sim
        self.session = requests.Session()
        self.verify = str(sim.ca_bundle)  # per request: an environment REQUESTS_CA_BUNDLE would win over session.verify
        self._token: str | None = None

    def token_response(
        self, auth: tuple[str, str] | None = ("msi-sync-demo", "demo-secret"), **form: str
    ) -> requests.Response:
        data = {"grant_type": "client_credentials", **form}
        return self.session.post(
            self.sim.url + "/services/oauth2/token", data=data, auth=auth, verify=self.verify, timeout=10
        )

    def token(self) -> str:
        if self._token is None:
            self._token = self.token_response().json()["access_token"]
        return self._token

    def request(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> requests.Response:
        url = path if path.startswith("https://") else self.sim.url + path
        all_headers = {"Authorization": f"Bearer {self.token()}", **(headers or {})}
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, url, headers=all_headers, verify=self.verify, **kwargs)

    def data(self, method: str, rest: str, **kwargs: Any) -> requests.Response:
        return self.request(method, f"/services/data/v{SF_VERSION}/{rest.lstrip('/')}", **kwargs)

    def query(self, soql: str, *, all_rows: bool = False, **kwargs: Any) -> requests.Response:
        return self.data("GET", "queryAll" if all_rows else "query", params={"q": soql}, **kwargs)

    def records(self, soql: str, *, all_rows: bool = False) -> list[dict[str, Any]]:
        """Every record of a query, following nextRecordsUrl."""
        response = self.query(soql, all_rows=all_rows)
        assert response.status_code == 200, response.text
        body = response.json()
        records = list(body["records"])
        while not body["done"]:
            response = self.request("GET", body["nextRecordsUrl"])
            assert response.status_code == 200, response.text
            body = response.json()
            records.extend(body["records"])
        return records

    def update(
        self, records: list[dict[str, Any]], *, all_or_none: bool = False, auto_assign: str | None = "FALSE"
    ) -> requests.Response:
        headers = {"Sforce-Auto-Assign": auto_assign} if auto_assign is not None else {}
        return self.data(
            "PATCH", "composite/sobjects", json={"allOrNone": all_or_none, "records": records}, headers=headers
        )

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request(
            method, self.sim.url + "/_sim/" + path, verify=self.verify, timeout=60, **kwargs
        )
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="session")
def _shared_salesforce_sim() -> Iterator[SalesforceSimulator]:
    sim = SalesforceSimulator(seed=11, size=1500).start()
    yield sim
    sim.stop()


@pytest.fixture
def salesforce_sim(_shared_salesforce_sim: SalesforceSimulator) -> SalesforceSimulator:
    """The shared simulator (seed 11, 1,500 records), back at its generated start for each test."""
    _shared_salesforce_sim.reset()
    return _shared_salesforce_sim


@pytest.fixture
def sf(salesforce_sim: SalesforceSimulator) -> SalesforceHttp:
    return SalesforceHttp(salesforce_sim)


@pytest.fixture
def sf_for() -> Callable[[SalesforceSimulator], SalesforceHttp]:
    """Hand-built HTTP access to any Salesforce simulator the test started itself."""
    return SalesforceHttp


# --- end of the Salesforce block -----------------------------------------------------------
