"""`msi-sync failures` through click on a seeded database: list, show, retry, dismiss, export."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from models.db import migrate, session_scope
from pipeline.failures import FailedRecord, record_failures
from tests.cli.conftest import Synced, as_json
from tests.pipeline.records import sf_id

Run = Callable[..., Result]


@pytest.fixture
def seeded(tmp_path: Path, synced: Synced, use_env: Callable[[dict[str, str]], None]) -> str:
    url = f"sqlite:///{tmp_path}/db.sqlite"
    use_env({**synced.env, "DATABASE_URL": url})
    migrate(url)
    with session_scope(url) as session:
        record_failures(
            session,
            3,
            [
                FailedRecord(
                    "leads",
                    sf_id("003"),
                    "Contact",
                    "leads:upsert",
                    "1006",
                    "Field 'x' not found",
                    payload={"externalPersonId": "p", "email": "ann@example.com"},
                ),
                FailedRecord("leads", sf_id("00Q"), "Lead", "leads:upsert", "INVALID_ID", "OwnerId is not an id"),
                FailedRecord(
                    "companies",
                    sf_id("001"),
                    "Account",
                    "companies:upsert",
                    "1003",
                    "name missing",
                    payload={"externalCompanyId": "c"},
                ),
            ],
        )
    return url


def test_list_show_and_filters(seeded: str, msi_sync: Run) -> None:
    listed = as_json(msi_sync("failures", "list", "--json", "--object-type", "leads"))
    assert listed["total"] == 2 and {f["code"] for f in listed["failures"]} == {"1006", "INVALID_ID"}
    one = next(f for f in listed["failures"] if f["code"] == "1006")

    shown = as_json(msi_sync("failures", "show", str(one["id"]), "--json"))
    assert shown["message"] == "Field 'x' not found" and shown["payload"]["fields_set"] == ["email"]
    assert "ann@example.com" not in str(shown)
    text = msi_sync("failures", "show", str(one["id"])).stdout
    assert "Field 'x' not found" in text and "externalPersonId=p" in text

    assert msi_sync("failures", "show", "99999").exit_code == 1
    table = msi_sync("failures", "list", "--code", "1003").stdout
    assert "1 failures" in table and "name missing" in table


def test_dismiss_retry_and_export(seeded: str, msi_sync: Run, tmp_path: Path) -> None:
    assert msi_sync("failures", "retry").exit_code == 2  # nothing named: refused, not "everything"
    assert as_json(msi_sync("failures", "dismiss", "--code", "1006", "--json"))["dismissed"] == 1
    assert as_json(msi_sync("failures", "list", "--status", "open", "--json"))["total"] == 2

    retried = as_json(msi_sync("failures", "retry", "--object-type", "leads", "--json"))
    assert (retried["retried"], retried["reopened"], retried["needs_change"]) == (2, 1, 1)
    text = msi_sync("failures", "retry", "--code", "INVALID_ID").stdout
    assert "no stored payload" in text

    target = tmp_path / "out.csv"
    exported = as_json(msi_sync("failures", "export", "--csv", str(target), "--status", "open", "--json"))
    rows = list(csv.DictReader(target.open(encoding="utf-8")))
    assert exported["exported"] == 3 == len(rows)
    assert {row["code"] for row in rows} == {"1006", "INVALID_ID", "1003"}
    assert msi_sync("failures", "show", "abc").exit_code == 2
