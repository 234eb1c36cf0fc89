"""Fixtures every test folder shares: the real Redis and PostgreSQL servers of this machine, simulators on demand."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from clients.limiter import LimiterConfig, LocalLimiter
from clients.salesforce import SalesforceClient
from simulators.marketo import MarketoSimulator
from simulators.salesforce import SalesforceSimulator

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The real Redis; a test that needs it fails loudly when it is down (.ci/run starts it)."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as error:  # pragma: no cover - environment problem
        pytest.fail(f"Redis is not answering at {REDIS_URL}: {error}")
    return REDIS_URL


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def key_prefix(redis_client: redis.Redis) -> Iterator[str]:
    """A Redis key prefix of this test alone; its keys are deleted afterwards."""
    prefix = f"test:{uuid.uuid4().hex[:12]}"
    yield prefix
    for key in redis_client.scan_iter(match=f"{prefix}*"):
        redis_client.delete(key)


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    import sqlalchemy

    engine = sqlalchemy.create_engine(POSTGRES_URL)
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT 1"))
    except sqlalchemy.exc.OperationalError as error:  # pragma: no cover - environment problem
        pytest.fail(f"PostgreSQL is not answering at {POSTGRES_URL}: {error}")
    finally:
        engine.dispose()
    return POSTGRES_URL


def _fresh_postgres_database(server_url: str) -> tuple[str, str]:
    import sqlalchemy

    name = f"msi_test_{uuid.uuid4().hex[:10]}"
    engine = sqlalchemy.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return name, sqlalchemy.engine.make_url(server_url).set(database=name).render_as_string(hide_password=False)


def _drop_postgres_database(server_url: str, name: str) -> None:
    import sqlalchemy

    engine = sqlalchemy.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for this test alone, dropped afterwards."""
    name, url = _fresh_postgres_database(postgres_server_url)
    yield url
    from models.db import engine_for

    engine_for(url).dispose()  # engines are cached per URL: close its pool before dropping
    _drop_postgres_database(postgres_server_url, name)


@pytest.fixture
def sqlite_url(tmp_path: object) -> str:
    return f"sqlite:///{tmp_path}/msi-sync.db"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test using it runs on both databases the service supports."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


def _started_servers(server_class: Any) -> Iterator[Callable[..., Any]]:
    started: list[Any] = []

    def start(**kwargs: Any) -> Any:
        server = server_class(**kwargs).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def marketo_sim_factory() -> Iterator[Callable[..., MarketoSimulator]]:
    """Start Marketo simulators with any constructor arguments; all are stopped after the test."""
    yield from _started_servers(MarketoSimulator)


@pytest.fixture
def salesforce_sim_factory() -> Iterator[Callable[..., SalesforceSimulator]]:
    """Start Salesforce simulators with any constructor arguments; all are stopped after the test."""
    yield from _started_servers(SalesforceSimulator)


@pytest.fixture
def salesforce_client_for(monkeypatch: pytest.MonkeyPatch) -> Callable[..., SalesforceClient]:
    """A real SalesforceClient for a simulator; trust comes from REQUESTS_CA_BUNDLE, as in production."""

    def make(sim: SalesforceSimulator, **overrides: Any) -> SalesforceClient:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sim.ca_bundle))
        options: dict[str, Any] = {
            "login_url": sim.url,
            "client_id": sim.client_id,
            "client_secret": sim.client_secret,
            "api_version": "62.0",
            "limiter": LocalLimiter(LimiterConfig()),
            "timeout": 10.0,
        }
        return SalesforceClient(**{**options, **overrides})

    return make
