"""Fixtures of the operator tests: simulated orgs, real SMTP and webhook receivers, a migrated database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from models.db import migrate
from tests.ops.deployment import Orgs, start_orgs, stop_orgs
from tests.ops.receivers import SmtpReceiver, WebhookReceiver


@pytest.fixture(scope="session")
def orgs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orgs]:
    started = start_orgs(tmp_path_factory.mktemp("orgs"))
    yield started
    stop_orgs(started)


@pytest.fixture(autouse=True)
def _trust_simulators(orgs: Orgs, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """requests reads the CA bundle from the environment; the worker context must re-read settings."""
    from worker import context

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(orgs.ca_bundle))
    monkeypatch.delenv("REDIS_URL", raising=False)
    context.reset()
    yield
    context.reset()


@pytest.fixture(scope="session")
def _smtp() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="session")
def _webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def smtp(_smtp: SmtpReceiver) -> SmtpReceiver:
    _smtp.clear()
    return _smtp


@pytest.fixture
def webhook(_webhook: WebhookReceiver) -> WebhookReceiver:
    _webhook.clear()
    return _webhook


@pytest.fixture
def notify_settings(smtp: SmtpReceiver, webhook: WebhookReceiver) -> dict[str, str]:
    """Settings that send every notification to both receivers."""
    return {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp.port),
        "NOTIFY_EMAIL_TO": "ops@example.com",
        "NOTIFY_WEBHOOK_URL": webhook.url,
    }


@pytest.fixture
def db(database_url: str) -> str:
    migrate(database_url)
    return database_url


@pytest.fixture
def sqlite_db(sqlite_url: str) -> str:
    migrate(sqlite_url)
    return sqlite_url
