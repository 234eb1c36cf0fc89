"""Write-back fixtures: the integration stack on a Redis database of its own, and helpers that read the simulators."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from clients.sfids import to_18
from models.db import session_scope
from models.runs import RUN_RUNNING, SyncRun
from tests.integration import conftest as integration

# The integration suite's fixtures, re-used here (stack_factory, and the private Redis server it
# may depend on).
for _name in ("stack_factory", "integration_redis"):
    if hasattr(integration, _name):
        globals()[_name] = getattr(integration, _name)
# Where the integration suite shares the machine's Redis, a database of the write-back's own:
# each integration test empties its database, and two suites may run at once on one machine.
WRITEBACK_REDIS = "redis://127.0.0.1:6379/13"
MSI_FIELDS = {
    "msiLastInterestingMomentType": "mkto_si__Last_Interesting_Moment_Type__c",
    "msiLastInterestingMomentDate": "mkto_si__Last_Interesting_Moment_Date__c",
    "msiLastInterestingMomentDesc": "mkto_si__Last_Interesting_Moment_Desc__c",
    "msiLastInterestingMomentSource": "mkto_si__Last_Interesting_Moment_Source__c",
    "priority": "mkto_si__Priority__c",
    "relativeUrgency": "mkto_si__Urgency_Value__c",
    "relativeScoring": "mkto_si__Relative_Score_Value__c",
}


@pytest.fixture
def wb_stack(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Callable[..., Any]:
    monkeypatch.setattr(integration, "INTEGRATION_REDIS", WRITEBACK_REDIS, raising=False)
    factory: Callable[..., Any] = request.getfixturevalue("stack_factory")
    return factory


def run_pass(stack: Any, timeout: float = 120) -> SyncRun:
    """Start a pass through the broker (as beat and the CLI do) and wait for it to end."""
    from tasks.writeback import start_writeback

    answer = start_writeback.apply_async(kwargs={"trigger": "test"}).get(timeout=60)
    assert answer["status"] == "started", answer
    return wait_for_pass(stack, int(answer["run"]), timeout)


def wait_for_pass(
    stack: Any, run_id: int, timeout: float = 120, *, until: Callable[[SyncRun], bool] | None = None
) -> SyncRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with session_scope(stack.database_url) as session:
            run = session.get(SyncRun, run_id)
            assert run is not None
            if run.status != RUN_RUNNING or (until is not None and until(run)):
                return run
        time.sleep(0.2)
    raise AssertionError(f"pass {run_id} did not end within {timeout}s; worker logs in {stack.log_dir}")


def marketo_lead(stack: Any, sf_id: str) -> dict[str, Any]:
    store = stack.marketo.store
    with store.lock:
        (lead_id,) = store.leads.find("externalPersonId", sf_id)
        return dict(store.leads.get(lead_id))


def set_msi(stack: Any, sf_id: str, *, activity: bool = True, **values: Any) -> int:
    """Change a synced person's MSI fields in Marketo, as MSI would (with a Change Score activity,
    or silently, like the nightly recompute); returns the Marketo lead id."""
    from simulators.marketo.msi import CHANGE_SCORE

    store = stack.marketo.store
    with store.lock:
        (lead_id,) = store.leads.find("externalPersonId", sf_id)
        store.leads.materialise(lead_id).update(values)
        if activity:
            store.activities.add(lead_id, CHANGE_SCORE, "Priority", [], time.time())
    return int(lead_id)


def same_value(marketo: Any, salesforce: Any) -> bool:
    """The oracle: a Marketo value and what Salesforce holds mean the same (dates as instants, scores as numbers)."""
    if marketo is None:
        return salesforce is None
    if isinstance(marketo, int | float):
        return salesforce is not None and float(salesforce) == float(marketo)
    if isinstance(marketo, str) and len(marketo) >= 20 and marketo[4] == "-" and marketo[10] == "T":
        return salesforce is not None and datetime.fromisoformat(marketo) == datetime.fromisoformat(salesforce)
    return bool(salesforce == marketo)


def differing(stack: Any, sf_ids: list[str]) -> list[str]:
    """People whose Salesforce record does not show their Marketo MSI values (fields Marketo has)."""
    wrong = []
    for sf_id in sf_ids:
        lead = marketo_lead(stack, sf_id)
        record = stack.salesforce.org.get(to_18(sf_id)) or {}
        for marketo_field, sf_field in MSI_FIELDS.items():
            if lead.get(marketo_field) is not None and not same_value(lead[marketo_field], record.get(sf_field)):
                wrong.append(
                    f"{sf_id} {sf_field}: Marketo {lead[marketo_field]!r}, Salesforce {record.get(sf_field)!r}"
                )
    return wrong
