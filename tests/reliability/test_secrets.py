"""No secret and no access token in anything the service writes: planted canaries, searched for everywhere.

Unique random strings are the Salesforce and Marketo client secrets (the simulators accept only
those), the SMTP password, the webhook URL's token, Flower's password and the PostgreSQL password.
A real worker, logging at DEBUG to a file, runs a full sync; then Marketo rotates its secret, so the
next cycle's chunks are refused and an admin is notified by email and webhook. Then everything the
service wrote is searched: worker logs, every command sent to Redis and every key left in it
(broker, results, limiter, token cache), every table of the database, the notifications, and the
JSON of `msi-sync status`, `failures list` and `doctor`. Flower's pages: tests/integration/test_flower.py.
"""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import sqlalchemy
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlalchemy.engine import make_url

from tests.integration.conftest import REPO, Stack
from tests.ops.receivers import SmtpReceiver, WebhookReceiver
from tests.reliability.service import msi_sync

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]

TOKEN_CACHE_PREFIX = "msi:token"  # clients/token_cache.py: the one place a Marketo access token may be kept


def canary(what: str) -> str:
    return f"{what}{secrets.token_hex(12)}"


class LoginSmtpReceiver(SmtpReceiver):
    """The SMTP receiver, asking for a login and remembering the passwords it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.passwords: list[str] = []
        self._controller = Controller(
            self, hostname="127.0.0.1", port=self.port, authenticator=self._login, auth_require_tls=False
        )

    def _login(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        self.passwords.append(auth_data.password.decode())
        return AuthResult(success=True)


class RedisMonitor:
    """Every command any client sends to Redis while it runs (MONITOR), one line each, as Redis prints it."""

    def __init__(self, url: str) -> None:
        self._connection = redis.Redis.from_url(url).connection_pool.get_connection()
        self._connection.send_command("MONITOR")
        assert self._connection.read_response() in (b"OK", "OK")
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            while True:
                line = self._connection.read_response()
                self.lines.append(line.decode(errors="replace") if isinstance(line, bytes) else str(line))
        except (redis.RedisError, OSError, ValueError, AttributeError):
            return  # stop() closed the connection under it

    def stop(self) -> list[str]:
        time.sleep(0.5)  # the last commands are on their way
        self._connection.disconnect()
        self._thread.join(timeout=10)
        return self.lines


def redis_contents(url: str) -> list[tuple[str, str]]:
    """Every key of the Redis database and its value, whatever its type."""
    client = redis.Redis.from_url(url)
    found = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key).decode()
        value: Any = {
            "string": lambda k: client.get(k),
            "list": lambda k: client.lrange(k, 0, -1),
            "hash": lambda k: client.hgetall(k),
            "set": lambda k: client.smembers(k),
            "zset": lambda k: client.zrange(k, 0, -1, withscores=True),
        }.get(kind, lambda k: b"")(key)
        found.append((key.decode(errors="replace"), repr(value)))
    client.close()
    return found


def database_contents(url: str) -> dict[str, str]:
    """Every row of every table, as text."""
    engine = sqlalchemy.create_engine(url)
    found = {}
    try:
        with engine.connect() as connection:
            for table in sqlalchemy.inspect(connection).get_table_names():
                # The table names come from the database's own catalogue.
                rows = connection.execute(sqlalchemy.text(f'SELECT * FROM "{table}"'))  # noqa: S608
                found[table] = "\n".join(repr(tuple(row)) for row in rows)
    finally:
        engine.dispose()
    return found


def forms_of(secret: str) -> list[str]:
    """The secret and the parts of its base64 forms that depend on it alone, at each byte offset
    (Celery's messages carry their bodies in base64)."""
    raw = secret.encode()
    forms = [secret]
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode()
        forms.append(encoded[(8 * offset + 5) // 6 : (8 * (offset + len(raw))) // 6])
    return forms


def leaks(places: dict[str, str], needles: dict[str, str]) -> list[str]:
    return [
        f"{name} found in {place}"
        for place, text in places.items()
        for name, needle in needles.items()
        if any(form in text for form in forms_of(needle))
    ]


def start_debug_worker(stack: Stack) -> None:
    """A real worker like Stack.start_worker's, logging at DEBUG (where libraries print URLs and headers)."""
    name = f"debug{len(stack.workers)}"
    log = open(stack.log_dir / f"worker-{name}.log", "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "worker",
            "worker",
            "--loglevel",
            "DEBUG",
            "-c",
            "4",
            "-n",
            f"{name}@%h",
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=REPO,
        env={**os.environ, **stack.env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    stack.workers.append(process)
    stack._wait_ready(process, f"{name}@")


@pytest.fixture
def receivers() -> Iterator[tuple[LoginSmtpReceiver, WebhookReceiver]]:
    smtp, webhook = LoginSmtpReceiver().start(), WebhookReceiver().start()
    yield smtp, webhook
    smtp.stop()
    webhook.stop()


def test_no_secret_or_token_in_anything_the_service_writes(
    stack_factory: Any, postgres_url: str, receivers: tuple[LoginSmtpReceiver, WebhookReceiver]
) -> None:
    smtp, webhook = receivers
    planted = {
        "Salesforce client secret": canary("sfsecret"),
        "Marketo client secret": canary("mksecret"),
        "SMTP password": canary("smtppassword"),
        "webhook URL token": canary("hooktoken"),
        "Flower password": canary("flowerpassword"),
        "PostgreSQL password": canary("pgpassword"),
    }
    # The test server trusts local connections, so the password in the URL is carried but never checked.
    database_url = make_url(postgres_url).set(password=planted["PostgreSQL password"])
    hook_url = f"{webhook.url.rsplit('/', 1)[0]}/{planted['webhook URL token']}"
    stack: Stack = stack_factory(
        size=150,
        seed=41,
        database_url=database_url.render_as_string(hide_password=False),
        salesforce_args={"client_secret": planted["Salesforce client secret"]},
        marketo_args={"client_secret": planted["Marketo client secret"]},
        extra_env={
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp.port),
            "SMTP_USERNAME": "msi-sync",
            "SMTP_PASSWORD": planted["SMTP password"],
            "NOTIFY_EMAIL_TO": "ops@example.com",
            "NOTIFY_WEBHOOK_URL": hook_url,
            "FLOWER_BASIC_AUTH": f"ops:{planted['Flower password']}",
        },
    )
    monitor = RedisMonitor(stack.env["REDIS_URL"])
    start_debug_worker(stack)
    assert stack.sync().status == "succeeded"

    # Marketo rotates the secret and its tokens die: the service's secret is now wrong.
    stack.marketo.config.client_secret = canary("rotated")
    identity = stack.marketo.ctx.identity
    for token in list(identity._tokens):
        identity.expire(token)
    stack.salesforce.org.mutate(7, 20)
    stack.start_cycle()
    deadline = time.monotonic() + 60
    while "credentials:marketo" not in webhook.kinds() or not smtp.messages:
        assert time.monotonic() < deadline, f"no credentials notice: {webhook.kinds()}, {len(smtp.messages)} emails"
        time.sleep(0.2)
    commands = {
        "msi-sync status --json": msi_sync(stack, "status", "--json"),
        "msi-sync failures list --json": msi_sync(stack, "failures", "list", "--json"),
        "msi-sync doctor --json": msi_sync(stack, "doctor", "--json"),
    }
    redis_commands = monitor.stop()

    # The canaries were live: each reached the system it is for.
    assert smtp.passwords and set(smtp.passwords) == {planted["SMTP password"]}
    assert set(webhook.paths) == {f"/hooks/{planted['webhook URL token']}"}
    assert "Marketo Identity refused the client credentials" in webhook.bodies[0]["happened"]
    assert "credentials" in commands["msi-sync doctor --json"].stdout  # the doctor met the refusal too
    salesforce_tokens = {t: t for t in stack.salesforce.sessions._tokens}
    marketo_tokens = {t: t for t in identity._tokens}
    assert salesforce_tokens and marketo_tokens

    logs = {f"log {path.name}": path.read_text(errors="replace") for path in stack.log_dir.glob("*.log")}
    assert any("upsert_chunk" in text for text in logs.values())  # the log is the worker's, at DEBUG
    tables = {f"table {name}": text for name, text in database_contents(stack.database_url).items()}
    assert stack.salesforce.org.org_id in tables["table connections"]  # the tables are this deployment's
    written = {
        **logs,
        **tables,
        **{name: done.stdout + done.stderr for name, done in commands.items()},
        "notification emails": "\n".join(m.as_string() for m in smtp.messages),
        "notification webhooks": repr(webhook.bodies),
    }
    assert leaks(written, {**planted, **salesforce_tokens, **marketo_tokens}) == []

    # Redis holds Marketo's access token in the token cache, shared by the workers, and nothing else secret.
    stored = redis_contents(stack.env["REDIS_URL"])
    cache_writes = [line for line in redis_commands if TOKEN_CACHE_PREFIX in line]
    assert leaks({"token cache": "\n".join(cache_writes)}, marketo_tokens), "no token seen in the cache: a blind search"
    everything = {f"redis key {key}": value for key, value in stored}
    everything["commands sent to Redis"] = "\n".join(redis_commands)
    assert len(redis_commands) > 100 and any("upsert_chunk" in line for line in redis_commands)
    assert leaks(everything, {**planted, **salesforce_tokens}) == []
    outside_cache = {f"redis key {key}": value for key, value in stored if not key.startswith(TOKEN_CACHE_PREFIX)}
    outside_cache["commands sent to Redis"] = "\n".join(set(redis_commands) - set(cache_writes))
    assert leaks(outside_cache, marketo_tokens) == []
