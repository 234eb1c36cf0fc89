"""The failures commands' functions on both databases, and that a retried failure really is sent again."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from models.db import session_scope
from models.records import FAILURE_DISMISSED, FAILURE_OPEN, FAILURE_RESOLVED, Failure
from models.runs import StagedRecord
from ops.failures import (
    FailureFilter,
    check_backlog,
    dismiss_failures,
    export_csv,
    list_failures,
    retry_failures,
    show_failure,
)
from pipeline.failures import FailedRecord, record_failures, resolve_failures
from pipeline.progress import start_run
from pipeline.staging import restage_open_failures
from tests.ops.deployment import Orgs, settings_for
from tests.ops.receivers import WebhookReceiver
from tests.pipeline.records import sf_id

PERSON = {"externalPersonId": "", "email": "ann.lee@example.com", "firstName": "Ann", "lastName": "Lee", "title": None}


def _seed(db: str) -> dict[str, str]:
    """Three failed leads (two codes) and one failed company; one lead without a payload."""
    ids = {name: sf_id(prefix) for name, prefix in (("a", "003"), ("b", "003"), ("c", "00Q"), ("co", "001"))}
    with session_scope(db) as session:
        record_failures(
            session,
            None,
            [
                FailedRecord(
                    "leads",
                    ids["a"],
                    "Contact",
                    "leads:upsert",
                    "1006",
                    "Field 'x' not found",
                    payload={**PERSON, "externalPersonId": ids["a"], "externalCompanyId": ids["co"]},
                ),
                FailedRecord(
                    "leads",
                    ids["b"],
                    "Contact",
                    "leads:upsert",
                    "1006",
                    "Field 'x' not found",
                    payload={**PERSON, "externalPersonId": ids["b"]},
                ),
                FailedRecord("leads", ids["c"], "Lead", "leads:upsert", "INVALID_ID", "OwnerId is not an id"),
                FailedRecord(
                    "companies",
                    ids["co"],
                    "Account",
                    "companies:upsert",
                    "1003",
                    "Company name missing",
                    payload={"externalCompanyId": ids["co"], "company": None},
                ),
            ],
        )
    return ids


def _id_of(db: str, sf: str) -> int:
    with session_scope(db) as session:
        return int(session.scalars(select(Failure.id).where(Failure.sf_id == sf)).one())


def test_list_filters_by_object_type_code_and_status(db: str) -> None:
    ids = _seed(db)
    with session_scope(db) as session:
        assert list_failures(session, FailureFilter())[0] == 4
        total, rows = list_failures(session, FailureFilter(object_type="leads", code="1006"))
        assert total == 2 and {r["sf_id"] for r in rows} == {ids["a"], ids["b"]}
        resolve_failures(session, "leads", [ids["a"]])
        assert list_failures(session, FailureFilter(status=FAILURE_RESOLVED))[1][0]["sf_id"] == ids["a"]
        assert list_failures(session, FailureFilter(), limit=1)[0] == 4


def test_show_gives_the_reason_and_no_personal_value(db: str) -> None:
    ids = _seed(db)
    with session_scope(db) as session:
        shown = show_failure(session, _id_of(db, ids["a"]))
        assert show_failure(session, 999_999) is None
    assert shown is not None
    assert (shown["code"], shown["message"], shown["retryable"]) == ("1006", "Field 'x' not found", True)
    assert shown["payload"]["ids"] == {"externalPersonId": ids["a"], "externalCompanyId": ids["co"]}
    assert shown["payload"]["fields_set"] == ["email", "firstName", "lastName"]
    assert shown["payload"]["fields_empty"] == ["title"]
    assert "ann.lee@example.com" not in str(shown) and "Ann" not in str(shown)


def test_retry_reopens_dismissed_ones_and_the_next_cycle_sends_them_again(db: str) -> None:
    ids = _seed(db)
    with session_scope(db) as session:
        assert dismiss_failures(session, FailureFilter(object_type="leads")) == 3
        assert dismiss_failures(session, FailureFilter(object_type="leads")) == 0  # only open ones
        run = start_run(session, object_types=["leads"], full=False, trigger="test", overlap=timedelta(0))
        assert restage_open_failures(session, run.id, "Contact") == 0  # dismissed: not retried
    with session_scope(db) as session:
        counts = retry_failures(session, FailureFilter(object_type="leads"))
        assert counts == {"retried": 3, "reopened": 3, "needs_change": 1}
        statuses = set(session.scalars(select(Failure.status).where(Failure.object_type == "leads")))
        assert statuses == {FAILURE_OPEN}
        assert restage_open_failures(session, run.id, "Contact") == 2  # both contacts staged again
        staged = set(session.scalars(select(StagedRecord.sf_id).where(StagedRecord.run_id == run.id)))
        assert staged == {ids["a"], ids["b"]}


def test_retry_by_id_leaves_resolved_ones_alone(db: str) -> None:
    ids = _seed(db)
    with session_scope(db) as session:
        resolve_failures(session, "leads", [ids["a"]])
    with session_scope(db) as session:
        picked = (_id_of(db, ids["a"]), _id_of(db, ids["b"]))
        assert retry_failures(session, FailureFilter(ids=picked))["retried"] == 1
        assert session.get(Failure, picked[0]).status == FAILURE_RESOLVED  # type: ignore[union-attr]
        assert dismiss_failures(session, FailureFilter(ids=(picked[1],))) == 1
        assert session.get(Failure, picked[1]).status == FAILURE_DISMISSED  # type: ignore[union-attr]


def test_export_writes_every_match_without_payloads(db: str, tmp_path: Path) -> None:
    ids = _seed(db)
    target = tmp_path / "failures.csv"
    seen: list[tuple[int, int]] = []
    with session_scope(db) as session:
        count = export_csv(session, FailureFilter(object_type="leads"), target, lambda d, t: seen.append((d, t)))
    rows = list(csv.DictReader(target.open(encoding="utf-8")))
    assert count == 3 and seen[-1] == (3, 3)
    assert {row["sf_id"] for row in rows} == {ids["a"], ids["b"], ids["c"]}
    assert "payload" not in rows[0] and "ann.lee" not in target.read_text()


def test_failures_piling_up_past_the_threshold_are_notified_once(
    db: str, orgs: Orgs, webhook: WebhookReceiver, notify_settings: dict[str, str]
) -> None:
    settings = settings_for(
        orgs.production, orgs.marketo, db, "production", NOTIFY_FAILURES_THRESHOLD=4, **notify_settings
    )
    _seed(db)
    with session_scope(db) as session:
        dismiss_failures(session, FailureFilter(code="1003"))
    assert check_backlog(settings) is None  # 3 open errors: under the threshold
    with session_scope(db) as session:
        record_failures(
            session, None, [FailedRecord("roles", sf_id("00K"), "OpportunityContactRole", "roles:upsert", "1006", "x")]
        )
    assert check_backlog(settings) == "sent"
    assert check_backlog(settings) == "held-back"
    assert webhook.kinds() == ["failures"]
    assert "4 failed records are open" in webhook.bodies[0]["happened"]
    assert "1006 (3)" in webhook.bodies[0]["happened"]
