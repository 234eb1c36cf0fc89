"""The Salesforce client refuses to go on when re-authenticating lands it in another org."""

from __future__ import annotations

from pathlib import Path

import pytest

from clients.errors import GuardError
from clients.limiter import LimiterConfig, LocalLimiter
from clients.salesforce import SalesforceClient
from simulators.salesforce import SalesforceSimulator


def test_an_org_change_behind_a_refreshed_token_is_refused(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    first = SalesforceSimulator(seed=1, size=20, tls_dir=f"{tmp_path}/first").start()
    # Same credentials, another org (as after a sandbox refresh).
    second = SalesforceSimulator(seed=2, size=20, tls_dir=f"{tmp_path}/second", org_id="00D000000000002EAA").start()
    try:
        bundle = Path(f"{tmp_path}/both.pem")
        bundle.write_bytes(first.ca_bundle.read_bytes() + second.ca_bundle.read_bytes())
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
        client = SalesforceClient(
            login_url=first.url,
            client_id="msi-sync-demo",
            client_secret="demo-secret",
            api_version="62.0",
            limiter=LocalLimiter(LimiterConfig()),
            timeout=10,
        )
        assert client.identity().org_id == first.org.org_id
        client._login_url = second.url  # the login host now answers for another org
        first.sessions.revoke_all()  # the session ends; the client logs in again
        with pytest.raises(GuardError, match="org changed"):
            list(client.query("SELECT Id FROM User"))
    finally:
        first.stop()
        second.stop()
