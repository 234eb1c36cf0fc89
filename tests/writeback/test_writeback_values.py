"""The field mapping, the value conversion and the change rule of the write-back, and its per-pass budget."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clients.errors import ConfigurationError
from pipeline.writeback.budget import PassBudget, calls_per_pass
from pipeline.writeback.convert import Unconvertible, changes, to_salesforce
from pipeline.writeback.fields import FieldSpec
from pipeline.writeback.mapping import DEFAULT_FIELDS, WritebackMapping
from worker.settings import load_settings


def test_the_defaults_fit_the_msi_package_and_a_file_changes_or_drops_fields(tmp_path: Path) -> None:
    assert dict(WritebackMapping.load(None).fields) == DEFAULT_FIELDS
    assert DEFAULT_FIELDS["relativeUrgency"] == "mkto_si__Urgency_Value__c"
    path = tmp_path / "map.json"
    path.write_text(json.dumps({"relativeScoring": None, "leadScore": "Score__c"}))
    mapping = WritebackMapping.load(path)
    assert "relativeScoring" not in mapping.marketo_fields
    assert dict(mapping.fields)["leadScore"] == "Score__c"
    assert mapping.digest() != WritebackMapping.load(None).digest()


@pytest.mark.parametrize(
    "content",
    ['["priority"]', '{"priority": "not a field!"}', '{"priority": "mkto_si__Urgency_Value__c"}', "{", '{"a b": "X"}'],
)
def test_a_bad_mapping_file_is_refused_naming_the_setting(tmp_path: Path, content: str) -> None:
    path = tmp_path / "map.json"
    path.write_text(content)
    with pytest.raises(ConfigurationError) as refused:
        WritebackMapping.load(path)
    assert refused.value.setting == "WRITEBACK_FIELD_MAPPING_FILE"


@pytest.mark.parametrize(
    ("spec", "value", "expected"),
    [
        (FieldSpec("datetime"), "2026-11-20T08:30:00Z", "2026-11-20T08:30:00.000Z"),
        (FieldSpec("datetime"), "2026-11-20T09:30:00.25+01:00", "2026-11-20T08:30:00.250Z"),
        (FieldSpec("datetime"), "2026-11-20T08:30:00", "2026-11-20T08:30:00.000Z"),  # no zone: UTC
        (FieldSpec("date"), "2026-11-20T23:30:00-05:00", "2026-11-21"),
        (FieldSpec("date"), "2026-11-20", "2026-11-20"),
        (FieldSpec("double"), 3, 3.0),
        (FieldSpec("double"), "42.5", 42.5),
        (FieldSpec("int"), "2.6", 3),
        (FieldSpec("boolean"), "true", True),
        (FieldSpec("string", 5), "Visited pricing", "Visit"),
        (FieldSpec("textarea", 0), "x" * 300, "x" * 300),
        (FieldSpec("double"), None, None),
        (FieldSpec("string", 10), "", None),
    ],
)
def test_values_become_what_the_field_type_takes(spec: FieldSpec, value: object, expected: object) -> None:
    assert to_salesforce(spec, value) == expected


@pytest.mark.parametrize(
    ("spec", "value"),
    [
        (FieldSpec("datetime"), "yesterday"),
        (FieldSpec("double"), "high"),
        (FieldSpec("double"), "nan"),
        (FieldSpec("boolean"), "maybe"),
    ],
)
def test_a_value_that_does_not_fit_is_refused(spec: FieldSpec, value: object) -> None:
    with pytest.raises(Unconvertible):
        to_salesforce(spec, value)


def test_only_what_changed_is_written_and_an_empty_value_never_erases_an_unknown_one() -> None:
    new = {"A": 1.0, "B": "x", "C": None}
    assert changes(new, None) == {"A": 1.0, "B": "x"}
    assert changes(new, {"A": 1.0, "B": "x"}) == {}
    assert changes(new, {"A": 2.0, "B": "x", "C": "old"}) == {"A": 1.0, "C": None}


def test_a_pass_gets_the_daily_share_spread_over_the_days_passes() -> None:
    defaults = load_settings()
    # 50,000 a day x 20 % / 96 passes a day (every 15 minutes).
    assert calls_per_pass(defaults) == 104
    assert calls_per_pass(load_settings(WRITEBACK_INTERVAL_SECONDS=3600, MARKETO_DAILY_QUOTA=10_000)) == 83
    assert calls_per_pass(load_settings(WRITEBACK_MARKETO_CALLS_PER_PASS=7)) == 7
    budget = PassBudget(104)
    assert budget.scan_calls == 52
    assert budget.people(scan_used=4) == (90 * 300, 100 * 300)  # a tenth of the reads kept for the refresh
    assert PassBudget(2).people(scan_used=1) == (300, 300)
