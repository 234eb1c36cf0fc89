"""The target-field check, through describe on the Salesforce simulator with the real client."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from clients.salesforce import SalesforceClient
from pipeline.writeback import check_target_fields
from pipeline.writeback.fields import inspect_targets
from pipeline.writeback.mapping import WritebackMapping
from simulators.salesforce import SalesforceSimulator


@pytest.fixture(scope="module")
def simulator() -> Iterator[SalesforceSimulator]:
    sim = SalesforceSimulator(seed=3, size=50).start()
    yield sim
    sim.stop()


@pytest.fixture
def client(simulator: SalesforceSimulator, salesforce_client_for: Callable[..., SalesforceClient]) -> SalesforceClient:
    return salesforce_client_for(simulator, purpose="writeback")


def mapping(tmp_path: Path, overrides: dict[str, str | None]) -> WritebackMapping:
    path = tmp_path / "map.json"
    path.write_text(json.dumps(overrides))
    return WritebackMapping.load(path)


def test_the_msi_package_fields_pass_and_their_types_are_learnt(
    client: SalesforceClient, simulator: SalesforceSimulator
) -> None:
    mark = simulator.log.last_seq
    check = inspect_targets(client, WritebackMapping.load(None))
    assert check.problems == []
    assert check.specs["mkto_si__Last_Interesting_Moment_Date__c"].type == "datetime"
    assert check.specs["mkto_si__Priority__c"].type == "double"
    assert check.specs["mkto_si__Last_Interesting_Moment_Type__c"].length == 255
    described = [e.obj for e in simulator.log.since(mark) if e.operation == "describe"]
    assert described == ["Lead", "Contact"]  # one call per object


def test_each_problem_is_named_with_its_fix(client: SalesforceClient, tmp_path: Path) -> None:
    problems = check_target_fields(
        client,
        mapping(
            tmp_path,
            {
                "relativeUrgency": "mkto_si__Urgency__c",  # the formula, not the value field
                "priority": "Lead_Priority__c",  # not in this org
                "msiLastInterestingMomentSource": "SystemModstamp",  # read-only
            },
        ),
    )
    by_field = {(p.sobject, p.field): p for p in problems}
    assert set(by_field) == {
        (s, f) for s in ("Lead", "Contact") for f in ("mkto_si__Urgency__c", "Lead_Priority__c", "SystemModstamp")
    }
    assert "formula" in by_field["Lead", "mkto_si__Urgency__c"].message
    assert "mkto_si__Urgency_Value__c" in by_field["Lead", "mkto_si__Urgency__c"].fix
    assert "has no field Lead_Priority__c" in by_field["Contact", "Lead_Priority__c"].message
    assert "WRITEBACK_FIELD_MAPPING_FILE" in by_field["Contact", "Lead_Priority__c"].fix
    assert "not writable" in by_field["Lead", "SystemModstamp"].message
    assert "field-level security" in by_field["Lead", "SystemModstamp"].fix
    assert all(str(p).startswith(p.message) for p in problems)
