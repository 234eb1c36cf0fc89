"""`connect` and the per-cycle guard, against simulated orgs with their own org ids and sandbox flags."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from clients.errors import AuthenticationFailed, ConfigurationError, GuardError
from models.db import session_scope
from models.operations import Connection
from models.records import Failure, IdMap, Watermark
from models.runs import RUN_RUNNING, SyncRun
from ops.connection import ConnectPlan, connect, guard_cycle
from simulators.salesforce import SalesforceSimulator
from tests.ops.deployment import (
    OTHER_PRODUCTION_ORG,
    OTHER_SANDBOX_ORG,
    PRODUCTION_ORG,
    SANDBOX_ORG,
    Orgs,
    clients_for,
    env_for,
    settings_for,
)
from tests.ops.receivers import WebhookReceiver


def _connect(sim: SalesforceSimulator, orgs: Orgs, db: str, environment: str, **options: object) -> dict[str, object]:
    settings = settings_for(sim, orgs.marketo, db, environment)
    salesforce, marketo = clients_for(settings)
    return connect(settings, salesforce, marketo, **options).as_dict()  # type: ignore[arg-type]


def _active(db: str) -> list[tuple[str, str]]:
    with session_scope(db) as session:
        rows = session.scalars(select(Connection).where(Connection.active.is_(True))).all()
        return [(row.org_id, row.environment) for row in rows]


def _seed_sync_state(db: str) -> None:
    """What a sandbox leaves behind after syncing: id map, watermark, failure."""
    with session_scope(db) as session:
        session.add(IdMap(object_type="leads", sf_id="00Q5g000000AAAAEA4", sobject="Lead", marketo_id="7"))
        session.add(Watermark(sobject="Lead", value=datetime(2026, 1, 1, tzinfo=UTC)))
        session.add(Failure(object_type="leads", sf_id="00Q5g000000AAABEA4", code="1004", message="Lead not found"))


def _state_counts(db: str) -> tuple[int, int, int]:
    with session_scope(db) as session:
        return tuple(  # type: ignore[return-value]
            int(session.scalar(select(func.count()).select_from(table)) or 0) for table in (IdMap, Watermark, Failure)
        )


def test_connect_records_the_org_from_the_token_and_checks_both_apis(db: str, orgs: Orgs) -> None:
    answer = _connect(orgs.production, orgs, db, "production")

    assert answer["action"] == "record" and answer["org_id"] == PRODUCTION_ORG
    assert answer["environment"] == "production"
    assert _active(db) == [(PRODUCTION_ORG, "production")]
    assert any(e.operation == "identity" for e in orgs.marketo.log.all())  # Marketo token fetched too
    assert _connect(orgs.production, orgs, db, "production")["action"] == "recheck"


def test_the_environment_setting_must_agree_with_organization_issandbox(db: str, orgs: Orgs) -> None:
    with pytest.raises(ConfigurationError, match=r"SALESFORCE_ENVIRONMENT is sandbox, but org .* is a production"):
        _connect(orgs.production, orgs, db, "sandbox")
    assert _active(db) == []


def test_refused_credentials_are_reported_not_recorded(db: str, orgs: Orgs) -> None:
    settings = settings_for(orgs.production, orgs.marketo, db, "production", SALESFORCE_CLIENT_SECRET="wrong")
    salesforce, marketo = clients_for(settings)
    with pytest.raises(AuthenticationFailed):
        connect(settings, salesforce, marketo)
    assert _active(db) == []


def test_sandbox_to_production_clears_the_sandbox_state_after_confirmation(db: str, orgs: Orgs) -> None:
    _connect(orgs.sandbox, orgs, db, "sandbox")
    _seed_sync_state(db)
    asked: list[ConnectPlan] = []

    declined = _connect(orgs.production, orgs, db, "production", confirm=lambda plan: asked.append(plan) or False)
    assert declined["status"] == "cancelled"
    assert asked[0].action == "switch-to-production" and asked[0].to_clear["id map"] == 1
    assert _active(db) == [(SANDBOX_ORG, "sandbox")] and _state_counts(db) == (1, 1, 1)

    switched = _connect(orgs.production, orgs, db, "production")
    assert switched["action"] == "switch-to-production"
    assert switched["cleared"] == {
        "id map": 1,
        "watermarks": 1,
        "failures": 1,
        "staged records": 0,
        "write-back memory": 0,
    }
    assert _active(db) == [(PRODUCTION_ORG, "production")] and _state_counts(db) == (0, 0, 0)
    with session_scope(db) as session:
        old = session.scalars(select(Connection).where(Connection.org_id == SANDBOX_ORG)).one()
        assert not old.active and old.replaced_at is not None


def test_production_back_to_a_sandbox_is_refused_even_when_forced(db: str, orgs: Orgs) -> None:
    _connect(orgs.production, orgs, db, "production")
    _seed_sync_state(db)
    for force in (False, True):
        with pytest.raises(GuardError, match=r"moving it back to sandbox org .* is not allowed"):
            _connect(orgs.sandbox, orgs, db, "sandbox", replace_org=force)
    assert _active(db) == [(PRODUCTION_ORG, "production")] and _state_counts(db) == (1, 1, 1)


def test_another_org_of_the_same_environment_needs_the_flag_that_says_what_it_clears(db: str, orgs: Orgs) -> None:
    _connect(orgs.production, orgs, db, "production")
    _seed_sync_state(db)
    with pytest.raises(GuardError, match="--replace-org-and-clear-sync-state"):
        _connect(orgs.other_production, orgs, db, "production")
    assert _state_counts(db) == (1, 1, 1)

    replaced = _connect(orgs.other_production, orgs, db, "production", replace_org=True)
    assert replaced["action"] == "replace-org" and _state_counts(db) == (0, 0, 0)
    assert _active(db) == [(OTHER_PRODUCTION_ORG, "production")]


def test_no_switch_while_a_run_is_running(db: str, orgs: Orgs) -> None:
    _connect(orgs.sandbox, orgs, db, "sandbox")
    with session_scope(db) as session:
        session.add(SyncRun(kind="sync", status=RUN_RUNNING))
    with pytest.raises(GuardError, match="still running"):
        _connect(orgs.production, orgs, db, "production")
    assert _active(db) == [(SANDBOX_ORG, "sandbox")]


# --- the guard ------------------------------------------------------------------------------------------
def test_the_first_cycle_of_an_empty_database_records_the_org_it_finds(db: str, orgs: Orgs) -> None:
    settings = settings_for(orgs.other_sandbox, orgs.marketo, db, "sandbox")
    guard_cycle(settings)
    assert _active(db) == [(OTHER_SANDBOX_ORG, "sandbox")]
    with session_scope(db) as session:
        assert session.scalars(select(Connection)).one().checked_at is None  # recorded, not verified
    guard_cycle(settings)  # and from now on it is the one checked against


def test_no_org_recorded_but_sync_state_present_is_refused(db: str, orgs: Orgs) -> None:
    _seed_sync_state(db)
    with pytest.raises(GuardError, match="Run `msi-sync connect`"):
        guard_cycle(settings_for(orgs.production, orgs.marketo, db, "production"))


def test_a_cycle_against_another_org_is_refused_and_notified(
    db: str, orgs: Orgs, webhook: WebhookReceiver, notify_settings: dict[str, str]
) -> None:
    _connect(orgs.production, orgs, db, "production")
    other = settings_for(orgs.other_production, orgs.marketo, db, "production", **notify_settings)
    with pytest.raises(GuardError, match=f"now reach org {OTHER_PRODUCTION_ORG}.*connected to production org"):
        guard_cycle(other)
    assert webhook.kinds() == ["guard"]
    assert "No cycle runs until this is resolved" in webhook.bodies[0]["happened"]


def test_editing_the_environment_setting_back_to_sandbox_does_not_bypass_the_guard(db: str, orgs: Orgs) -> None:
    _connect(orgs.production, orgs, db, "production")
    for sim in (orgs.production, orgs.sandbox):  # same production credentials, or a sandbox's
        with pytest.raises(GuardError, match="is not allowed"):
            guard_cycle(settings_for(sim, orgs.marketo, db, "sandbox"))


def test_refused_credentials_at_cycle_start_are_notified(
    db: str, orgs: Orgs, webhook: WebhookReceiver, notify_settings: dict[str, str]
) -> None:
    settings = settings_for(
        orgs.production, orgs.marketo, db, "production", SALESFORCE_CLIENT_SECRET="wrong", **notify_settings
    )
    with pytest.raises(AuthenticationFailed):
        guard_cycle(settings)
    assert webhook.kinds() == ["credentials:salesforce"]


def test_start_cycle_refuses_to_run_against_another_org(
    sqlite_db: str, orgs: Orgs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real Celery task, run in this process: no run row, no Salesforce API call."""
    from tasks.cycle import start_cycle
    from worker import context

    _connect(orgs.sandbox, orgs, sqlite_db, "sandbox")
    for name, value in env_for(orgs.other_sandbox, orgs.marketo, sqlite_db, "sandbox").items():
        monkeypatch.setenv(name, value)
    context.reset()
    before = len(orgs.other_sandbox.log.all())

    outcome = start_cycle.apply(kwargs={"trigger": "test"})

    assert isinstance(outcome.result, GuardError)
    with session_scope(sqlite_db) as session:
        assert session.scalar(select(func.count()).select_from(SyncRun)) == 0
    calls = [e for e in orgs.other_sandbox.log.all()[before:] if "/services/data/" in e.path]
    assert calls == []  # the guard read the org id from the token alone
