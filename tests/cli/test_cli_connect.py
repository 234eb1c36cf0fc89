"""`msi-sync connect` through click: prompts, refusals and --json, against simulated orgs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from click.testing import Result
from sqlalchemy import func, select

from models.db import session_scope
from models.records import IdMap
from tests.cli.conftest import as_json
from tests.ops.deployment import PRODUCTION_ORG, SANDBOX_ORG, Orgs, env_for

Run = Callable[..., Result]


def _point_at(use_env: Callable[[dict[str, str]], None], orgs: Orgs, sim: object, url: str, environment: str) -> None:
    use_env({**env_for(sim, orgs.marketo, url, environment), "REQUESTS_CA_BUNDLE": str(orgs.ca_bundle)})  # type: ignore[arg-type]


def test_switching_a_sandbox_to_production_asks_first_then_clears(
    tmp_path: Path, orgs: Orgs, use_env: Callable[[dict[str, str]], None], msi_sync: Run
) -> None:
    url = f"sqlite:///{tmp_path}/db.sqlite"
    _point_at(use_env, orgs, orgs.sandbox, url, "sandbox")
    first = msi_sync("connect")
    assert first.exit_code == 0, first.output
    assert f"record org {SANDBOX_ORG} (sandbox)" in first.stdout and "Marketo: token issued" in first.stdout
    with session_scope(url) as session:
        session.add(IdMap(object_type="leads", sf_id="00Q5g000000AAAAEA4", sobject="Lead", marketo_id="1"))

    _point_at(use_env, orgs, orgs.production, url, "production")
    declined = msi_sync("connect", input="n\n")
    assert declined.exit_code == 1
    assert "switch from sandbox" in declined.stdout and "deletes 1 rows of id map" in declined.stdout
    assert "nothing changed" in declined.stdout

    accepted = msi_sync("connect", input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert "cleared 1 rows of id map" in accepted.stdout and "delete them in Marketo" in accepted.stdout
    with session_scope(url) as session:
        assert session.scalar(select(func.count()).select_from(IdMap)) == 0

    status = as_json(msi_sync("status", "--json"))
    assert status["connection"]["org_id"] == PRODUCTION_ORG and status["connection"]["verified"] is True


def test_json_mode_never_prompts_and_explains_refusals(
    tmp_path: Path, orgs: Orgs, use_env: Callable[[dict[str, str]], None], msi_sync: Run
) -> None:
    url = f"sqlite:///{tmp_path}/db.sqlite"
    _point_at(use_env, orgs, orgs.production, url, "production")
    assert as_json(msi_sync("connect", "--json"))["action"] == "record"

    _point_at(use_env, orgs, orgs.other_production, url, "production")
    refused = msi_sync("connect", "--json")
    assert refused.exit_code == 1
    assert as_json(refused)["error"] == "GuardError"
    assert "--replace-org-and-clear-sync-state" in as_json(refused)["message"]

    unconfirmed = msi_sync("connect", "--json", "--replace-org-and-clear-sync-state")
    assert unconfirmed.exit_code == 1 and as_json(unconfirmed)["status"] == "cancelled"
    assert as_json(msi_sync("connect", "--json", "--replace-org-and-clear-sync-state", "--yes"))["action"] == (
        "replace-org"
    )

    _point_at(use_env, orgs, orgs.sandbox, url, "sandbox")
    back = msi_sync("connect", "--json", "--replace-org-and-clear-sync-state", "--yes")
    assert back.exit_code == 1 and "is not allowed" in as_json(back)["message"]

    _point_at(use_env, orgs, orgs.production, url, "sandbox")
    mismatch = msi_sync("connect")
    assert mismatch.exit_code == 2 and "SALESFORCE_ENVIRONMENT is sandbox" in mismatch.stderr


def test_a_changed_marketo_secret_is_caught_even_with_a_token_still_cached(
    tmp_path: Path, orgs: Orgs, use_env: Callable[[dict[str, str]], None], msi_sync: Run
) -> None:
    url = f"sqlite:///{tmp_path}/db.sqlite"
    _point_at(use_env, orgs, orgs.production, url, "production")
    assert msi_sync("status", "--live").exit_code == 0  # leaves a valid Marketo token in this process's cache
    use_env({"MARKETO_CLIENT_SECRET": "rotated-away"})

    refused = msi_sync("connect", "--json")

    assert refused.exit_code == 1 and as_json(refused)["error"] == "AuthenticationFailed"
    assert "rotated-away" not in refused.stdout
