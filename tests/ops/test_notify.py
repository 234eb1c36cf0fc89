"""Notifications go to a real SMTP server and a real HTTP receiver, once per kind and period, without secrets."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from clients.errors import AuthenticationFailed, BudgetExhausted
from clients.limiter import LimiterConfig, LocalLimiter
from models.db import migrate, session_scope
from models.operations import NotificationSent
from ops.notify import notify_budget_exhausted, notify_credentials, notify_run_failed
from tests.ops.deployment import Orgs, env_for, settings_for
from tests.ops.receivers import SmtpReceiver, WebhookReceiver

REPO = Path(__file__).resolve().parents[2]


def test_a_notice_goes_out_by_email_and_webhook_with_what_to_do_and_no_secret(
    db: str, orgs: Orgs, smtp: SmtpReceiver, webhook: WebhookReceiver, notify_settings: dict[str, str]
) -> None:
    settings = settings_for(orgs.production, orgs.marketo, db, "production", **notify_settings)
    secret = orgs.marketo.config.client_secret
    refused = AuthenticationFailed(f"Marketo refused client_secret={secret} (bad id)", system="marketo", code="401")

    assert notify_credentials(refused, settings) == "sent"

    assert len(smtp.messages) == 1 and len(webhook.bodies) == 1
    mail, hook = smtp.messages[0], webhook.bodies[0]
    assert mail["Subject"] == "[msi-sync] Marketo refused the service's credentials"
    assert mail["To"] == "ops@example.com"
    text = mail.get_payload(decode=True).decode()
    assert "What to do: Check MARKETO_CLIENT_ID and MARKETO_CLIENT_SECRET" in text
    assert hook["kind"] == "credentials:marketo" and hook["what_to_do"].startswith("Check MARKETO_CLIENT_ID")
    for sent in (text, str(hook)):
        assert secret not in sent and "T0KEN-in-the-url" not in sent
        assert "client_secret=********" in sent


def test_each_kind_goes_out_once_per_period_and_says_how_many_were_held_back(
    db: str, orgs: Orgs, webhook: WebhookReceiver, notify_settings: dict[str, str]
) -> None:
    settings = settings_for(orgs.production, orgs.marketo, db, "production", **notify_settings)
    spent = LocalLimiter(LimiterConfig(marketo_daily_quota=1))
    spent.acquire_marketo()
    with pytest.raises(BudgetExhausted) as refused:  # the limiter's own error, with the time until the reset
        spent.acquire_marketo()
    exhausted = refused.value
    assert notify_budget_exhausted(exhausted, settings) == "sent"
    assert notify_budget_exhausted(exhausted, settings) == "held-back"
    assert notify_budget_exhausted(exhausted, settings) == "held-back"
    assert notify_run_failed(7, RuntimeError("boom"), settings) == "sent"  # another kind: its own period
    assert webhook.kinds() == ["budget:marketo", "run-failed"]
    assert "resumes by itself at about" in webhook.bodies[0]["happened"]
    assert "Run 7 stopped: boom" in webhook.bodies[1]["happened"]

    with session_scope(db) as session:  # the period passes
        row = session.get(NotificationSent, "budget:marketo")
        assert row is not None
        row.last_sent_at -= timedelta(seconds=settings.NOTIFY_PERIOD_SECONDS + 1)
    assert notify_budget_exhausted(exhausted, settings) == "sent"
    assert webhook.bodies[-1]["held_back"] == 2
    assert "2 more notices of this kind were held back" in webhook.bodies[-1]["text"]


def test_a_failed_delivery_gives_the_slot_back_and_the_webhook_has_a_timeout(
    db: str, orgs: Orgs, webhook: WebhookReceiver
) -> None:
    settings = settings_for(
        orgs.production, orgs.marketo, db, "production", NOTIFY_WEBHOOK_URL=webhook.url, NOTIFY_TIMEOUT_SECONDS=0.3
    )
    webhook.status = 500
    assert notify_run_failed(1, RuntimeError("x"), settings) == "failed"
    webhook.status, webhook.delay = 200, 2.0
    started = time.monotonic()
    assert notify_run_failed(2, RuntimeError("x"), settings) == "failed"
    assert time.monotonic() - started < 1.5
    webhook.delay = 0.0
    assert notify_run_failed(3, RuntimeError("x"), settings) == "sent"  # nothing went out before: not held back
    assert len(webhook.bodies) == 3


def test_without_a_channel_nothing_is_claimed(db: str, orgs: Orgs) -> None:
    settings = settings_for(orgs.production, orgs.marketo, db, "production")
    assert notify_run_failed(1, RuntimeError("x"), settings) == "no-channel"
    with session_scope(db) as session:
        assert session.get(NotificationSent, "run-failed") is None


SEND_ONE = """
import sys
from ops.notify import notify_run_failed
print("ready", flush=True)
sys.stdin.readline()  # every racer is loaded before any of them sends
print(notify_run_failed(int(sys.argv[1]), RuntimeError("raced")), flush=True)
"""


def test_processes_racing_send_one_notice_between_them(
    postgres_url: str, orgs: Orgs, webhook: WebhookReceiver, notify_settings: dict[str, str]
) -> None:
    migrate(postgres_url)
    env = {**os.environ, **env_for(orgs.production, orgs.marketo, postgres_url, "production"), **notify_settings}
    env.pop("SMTP_HOST")  # webhook only: one delivery to count
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", SEND_ONE, str(n)],
            cwd=REPO,
            env=env,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        for n in range(4)
    ]
    for racer in racers:
        assert racer.stdout is not None and racer.stdout.readline().strip() == "ready"
    for racer in racers:
        assert racer.stdin is not None
        racer.stdin.write("go\n")
        racer.stdin.flush()
    outcomes = sorted(racer.communicate(timeout=60)[0].strip() for racer in racers)
    assert outcomes == ["held-back", "held-back", "held-back", "sent"]
    assert len(webhook.bodies) == 1
