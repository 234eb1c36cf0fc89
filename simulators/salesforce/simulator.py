"""SalesforceSimulator: one simulated org served over HTTPS, for tests, the demo and benchmarks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simulators.common.faults import FaultPlan
from simulators.common.requestlog import RequestLog
from simulators.common.server import SimServer
from simulators.common.tls import TlsMaterial, make_tls
from simulators.salesforce import control, query
from simulators.salesforce.app import ApiUsage, SalesforceApp
from simulators.salesforce.auth import Sessions, TokenEndpoint
from simulators.salesforce.generator import generate
from simulators.salesforce.org import Org


class SalesforceSimulator:
    """Salesforce's REST API (OAuth token, query/queryAll, sObject Collections update, limits,
    describe, retrieve) with its shapes, limits and error codes.

    ``sim = SalesforceSimulator(seed=1, size=1000).start()``; ``sim.url`` is both the login URL
    and the instance URL; clients trust ``sim.ca_bundle``. ``sim.org`` is the in-memory store
    (changes made there are what "happened in Salesforce"), ``sim.log`` the request log,
    ``sim.faults`` the fault plan (replaceable at run time). ``sim.stop()`` ends it.
    """

    def __init__(
        self,
        seed: int = 0,
        size: int = 200,
        *,
        client_id: str = "msi-sync-demo",
        client_secret: str = "demo-secret",  # noqa: S107 - the simulator's published demo credential
        api_limit: int = 100_000,
        token_lifetime: float = 7200.0,
        tls_dir: Path | str | None = None,
        latency_per_call: float = 0.0,
        latency_per_record: float = 0.0,
        org_id: str | None = None,
        sandbox: bool = False,
        bad_input: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultPlan | None = None,
        jwt_public_key_pem: str | bytes | None = None,
        cursor_lifetime: float = 2 * 86_400.0,
        public_host: str | None = None,
    ) -> None:
        self.seed, self.size, self.bad_input = seed, size, bad_input
        self.client_id, self.client_secret = client_id, client_secret
        self._org_args: dict[str, Any] = {"sandbox": sandbox, "org_id": org_id}
        self._tls_dir = Path(tls_dir) if tls_dir else None
        self._host, self._port = host, port
        # The name other machines reach it by (a compose service): in the certificate and the URLs.
        self._public_host = public_host
        self._tls: TlsMaterial | None = None
        self._server: SimServer | None = None
        self.org: Org = generate(seed, size, bad_input, **self._org_args)
        self.log = RequestLog()
        self.usage = ApiUsage(api_limit)
        self.sessions = Sessions(self.org, token_lifetime)
        self.cursors = query.Cursors(self.org, lifetime=cursor_lifetime)
        self.tokens = TokenEndpoint(
            self.org,
            self.sessions,
            client_id=client_id,
            client_secret=client_secret,
            jwt_public_key_pem=jwt_public_key_pem,
        )
        self.app = SalesforceApp(
            self.org,
            sessions=self.sessions,
            tokens=self.tokens,
            usage=self.usage,
            cursors=self.cursors,
            log=self.log,
            faults=faults or FaultPlan(),
            latency_per_call=latency_per_call,
            latency_per_record=latency_per_record,
        )
        self.app.control = lambda request: control.handle(self, request)

    # --- lifecycle ---------------------------------------------------------------------
    def start(self) -> SalesforceSimulator:
        """Bind and serve on a background thread."""
        self.bind()
        assert self._server is not None
        self._server.start()
        return self

    def bind(self) -> SalesforceSimulator:
        """Create the TLS material and bind the port without serving yet (the CLI prints the URL first)."""
        hosts = ("localhost", "127.0.0.1", *([self._public_host] if self._public_host else []))
        self._tls = make_tls(self._tls_dir, hosts=hosts)
        self._server = SimServer(self.app, host=self._host, port=self._port, tls=self._tls)
        self.tokens.base_url = self.url
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> SalesforceSimulator:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Back to the generated start: data, log, tokens, cursors, usage and faults."""
        self.org.load(generate(self.seed, self.size, self.bad_input, **self._org_args))
        self.log.clear()
        self.sessions.revoke_all()
        self.cursors.expire_all()
        self.usage.reset()
        self.faults = FaultPlan()

    # --- what tests and tools read ---------------------------------------------------------
    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        if self._public_host:
            return f"https://{self._public_host}:{self._server.port}"
        return self._server.url

    @property
    def ca_bundle(self) -> Path:
        if self._tls is None:
            raise RuntimeError("the simulator is not started")
        return self._tls.ca_bundle

    @property
    def faults(self) -> FaultPlan:
        return self.app.faults

    @faults.setter
    def faults(self, plan: FaultPlan) -> None:
        self.app.faults = plan

    @property
    def api_limit(self) -> int:
        return self.usage.limit

    @api_limit.setter
    def api_limit(self, limit: int) -> None:
        self.usage.limit = limit

    def state(self) -> dict[str, Any]:
        org = self.org
        return {
            "org_id": org.org_id,
            "sandbox": org.sandbox,
            "counts": org.counts(),
            "api_usage": {"used": self.usage.used, "max": self.usage.limit},
            "open_cursors": len(self.cursors),
            "admin_user_id": org.admin_user_id,
            "integration_user_id": org.integration_user_id,
            "assignment_queue_id": org.assignment_queue_id,
            "last_modstamp": org.last_stamp,
        }

    def env(self) -> dict[str, str]:
        """The service's settings that point it at this simulator."""
        return {
            "SALESFORCE_LOGIN_URL": self.url,
            "SALESFORCE_CLIENT_ID": self.client_id,
            "SALESFORCE_CLIENT_SECRET": self.client_secret,
            "REQUESTS_CA_BUNDLE": str(self.ca_bundle),
        }
