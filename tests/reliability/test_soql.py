"""SOQL is never pasted together: hostile names are refused, hostile values reach Salesforce as one quoted literal each.

Every function that builds SOQL (grep `SELECT` and `format_soql`) is fed quotes, backslashes,
`' OR Id != null`, newlines and field names with spaces. Queries go through the real client to the
Salesforce simulator, and the simulator's own SOQL parser reads what was sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from clients.errors import ConfigurationError, RequestRejected
from clients.salesforce import QueryPage, SalesforceClient
from clients.sfids import to_18
from ops.doctor import _salesforce_people, _users
from pipeline.mapping import MappingConfig
from pipeline.soql import extract_query
from pipeline.writeback.writing import converted_contacts
from simulators.salesforce import SalesforceSimulator
from simulators.salesforce.soql import Comparison, InList, Query, parse

# Values that would change a query's meaning if pasted into it.
HOSTILE_VALUES = [
    "x' OR Id != null OR Id = 'x",
    "x\\' OR Id != null OR Id = \\'x",  # a backslash to undo the escape of the quote
    "x\\",  # a trailing backslash to swallow the closing quote
    "x') OR (Id != null",
    "x'\nOR Id != null",
    "00Q000000000001AAA' OR Name LIKE '%",
    'say "hi"\tand\rleave',
]
# Field and object names that are not names.
HOSTILE_NAMES = ["Id, Name", "Name FROM User --", "Email WHERE Id != null", "Id\n", "Na me", "Id'", "", "1Id"]


class Recording:
    """The real Salesforce client, remembering every SOQL statement it sends."""

    def __init__(self, client: SalesforceClient) -> None:
        self.client = client
        self.sent: list[str] = []

    def query(self, soql: str, *, include_deleted: bool = False) -> Iterator[QueryPage]:
        self.sent.append(soql)
        return self.client.query(soql, include_deleted=include_deleted)

    def update(self, records: list[dict[str, Any]]) -> Any:
        raise AssertionError("these tests only read")


@pytest.fixture(scope="module")
def salesforce(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SalesforceSimulator]:
    sim = SalesforceSimulator(seed=3, size=60, tls_dir=tmp_path_factory.mktemp("ca")).start()
    yield sim
    sim.stop()


@pytest.fixture
def recording(salesforce: SalesforceSimulator, salesforce_client_for: Callable[..., SalesforceClient]) -> Recording:
    return Recording(salesforce_client_for(salesforce))


def id_list(query: Query) -> list[Any]:
    """The values of the query's `Id IN (...)`, as the simulator's parser reads them; nothing else may filter."""
    assert isinstance(query.where, InList), query.where
    assert query.where.field.name == "Id" and not query.where.negated
    return [literal.value for literal in query.where.values]


def test_extract_queries_refuse_names_that_are_not_names() -> None:
    since = datetime(2025, 1, 1, 12, 30, tzinfo=UTC)
    for name in HOSTILE_NAMES:
        with pytest.raises(ValueError, match="not a Salesforce field or object name"):
            extract_query("Lead", ["Id", name], since)
        with pytest.raises(ValueError, match="not a Salesforce field or object name"):
            extract_query(name, ["Id"], since)
    query = parse(extract_query("Lead", ["Id", "Email"], since))
    assert [f.name for f in query.fields] == ["Id", "Email"] and query.sobject.name == "Lead"
    assert isinstance(query.where, Comparison) and query.where.value.kind == "datetime"


def test_a_field_mapping_file_cannot_carry_soql_in_a_field_name(tmp_path: Path) -> None:
    mapping = tmp_path / "mapping.json"
    for name in HOSTILE_NAMES:
        mapping.write_text(json.dumps({"Lead": {"title": name}}))
        with pytest.raises(ConfigurationError, match="must name a Salesforce field"):
            MappingConfig.load(mapping)


def test_doctor_ids_reach_salesforce_as_one_literal_each(salesforce: SalesforceSimulator, recording: Recording) -> None:
    # The doctor reads ids from the id map; were one ever hostile, it stays a value Salesforce refuses.
    with pytest.raises(RequestRejected) as refused:
        _users(recording, HOSTILE_VALUES)
    assert refused.value.code == "INVALID_QUERY_FILTER_OPERATOR"  # "invalid ID field", not a condition
    for sobject in ("Lead", "Contact"):
        with pytest.raises(RequestRejected):
            _salesforce_people(
                recording, [(value, sobject) for value in HOSTILE_VALUES], MappingConfig.load(None), set()
            )
    assert len(recording.sent) == 3
    for soql in recording.sent:
        assert id_list(parse(soql)) == HOSTILE_VALUES
    # The same path with a real id finds its record: what the test fed was the only thing that differed.
    lead = next(r for r in salesforce.org.records("Lead", include_deleted=False) if not r["IsConverted"])
    found = _salesforce_people(recording, [(to_18(lead["Id"]), "Lead")], MappingConfig.load(None), set())
    assert [person.sf_id for person in found] == [to_18(lead["Id"])]


def test_the_write_back_queries_only_ids_it_has_validated(
    salesforce: SalesforceSimulator, recording: Recording
) -> None:
    converted = next(r for r in salesforce.org.records("Lead", include_deleted=False) if r["IsConverted"])
    found = converted_contacts(recording, [*HOSTILE_VALUES, converted["Id"][:15]])
    assert found == {to_18(converted["Id"]): to_18(converted["ConvertedContactId"])}
    [soql] = recording.sent
    assert id_list(parse(soql)) == [to_18(converted["Id"])]


def test_describe_refuses_an_object_name_that_is_not_one(salesforce: SalesforceSimulator, recording: Recording) -> None:
    before = salesforce.log.last_seq
    for name in HOSTILE_NAMES:
        with pytest.raises(ValueError, match="not an sObject name"):
            recording.client.describe(name)
    assert [e for e in salesforce.log.since(before) if "/sobjects/" in e.path] == []
