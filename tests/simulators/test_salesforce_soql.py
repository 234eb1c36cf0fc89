"""The SOQL subset: what parses, what Salesforce refuses (and with which errorCode), and what matches."""

from __future__ import annotations

import pytest
from simple_salesforce import format_soql

from simulators.salesforce import soql
from simulators.salesforce.generator import generate
from simulators.salesforce.org import Org
from simulators.salesforce.query import batch_size_from, matching_ids, plan
from simulators.salesforce.soql import BoolOp, Comparison, InList, Like, Not, SoqlError


@pytest.mark.parametrize(
    ("text", "check"),
    [
        ("SELECT Id FROM Lead", lambda q: q.fields[0].name == "Id" and q.where is None and q.limit is None),
        ("select id, email from lead", lambda q: [f.name for f in q.fields] == ["id", "email"]),
        ("SELECT COUNT() FROM Contact", lambda q: q.count and q.fields == ()),
        ("SELECT Id FROM Lead LIMIT 5", lambda q: q.limit == 5),
        (
            "SELECT Id FROM Lead WHERE Email = 'a\\'b\\\\c'",
            lambda q: isinstance(q.where, Comparison) and q.where.value.value == "a'b\\c",
        ),
        (
            "SELECT Id FROM Lead WHERE AnnualRevenue >= -12.5",
            lambda q: isinstance(q.where, Comparison) and q.where.value.value == -12.5 and q.where.op == ">=",
        ),
        ("SELECT Id FROM Lead WHERE IsConverted = false", lambda q: q.where.value.value is False),
        ("SELECT Id FROM Lead WHERE OwnerId != null", lambda q: q.where.value.kind == "null" and q.where.op == "!="),
        ("SELECT Id FROM Lead WHERE Email <> 'x'", lambda q: q.where.op == "!="),
        (
            "SELECT Id FROM Lead WHERE SystemModstamp > 2024-01-01T00:00:00Z",
            lambda q: q.where.value.kind == "datetime" and q.where.value.value == 1_704_067_200_000,
        ),
        (
            "SELECT Id FROM Lead WHERE SystemModstamp > 2024-01-01T02:00:00+02:00",
            lambda q: q.where.value.value == 1_704_067_200_000,
        ),
        (
            "SELECT Id FROM Lead WHERE SystemModstamp > 2024-01-01T00:00:00.250Z",
            lambda q: q.where.value.value == 1_704_067_200_250,
        ),
        (
            "SELECT Id FROM Opportunity WHERE CloseDate < 2024-03-31",
            lambda q: q.where.value.kind == "date" and q.where.value.value == "2024-03-31",
        ),
        ("SELECT Id FROM Lead WHERE Id IN ('a', 'b')", lambda q: isinstance(q.where, InList) and not q.where.negated),
        ("SELECT Id FROM Lead WHERE Id NOT IN ('a')", lambda q: isinstance(q.where, InList) and q.where.negated),
        ("SELECT Id FROM Lead WHERE Email LIKE '%@x.com'", lambda q: isinstance(q.where, Like)),
        (
            "SELECT Id FROM Lead WHERE A = 1 AND B = 2 AND C = 3",
            lambda q: isinstance(q.where, BoolOp) and q.where.op == "AND" and len(q.where.terms) == 3,
        ),
        (
            "SELECT Id FROM Lead WHERE A = 1 AND (B = 2 OR C = 3)",
            lambda q: q.where.op == "AND" and isinstance(q.where.terms[1], BoolOp) and q.where.terms[1].op == "OR",
        ),
        ("SELECT Id FROM Lead WHERE NOT Email = 'x'", lambda q: isinstance(q.where, Not)),
        ("SELECT Id FROM Lead WHERE A = 1 AND (NOT B = 2)", lambda q: isinstance(q.where.terms[1], Not)),
        (
            "SELECT Id FROM Lead ORDER BY SystemModstamp, Id DESC NULLS FIRST",
            lambda q: (
                [(o.field.name, o.descending, o.nulls_first) for o in q.order_by]
                == [("SystemModstamp", False, True), ("Id", True, True)]
            ),
        ),
        ("SELECT Id FROM Lead ORDER BY Email DESC", lambda q: q.order_by[0].nulls_first is False),
    ],
)
def test_valid_statements_parse(text: str, check: object) -> None:
    assert check(soql.parse(text))  # type: ignore[operator]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "SELECT FROM Lead",
        "SELECT Id Lead",
        "SELECT Id FRM Lead",
        "SELECT Id, FROM Lead",
        "SELECT Id FROM Lead WHERE",
        "SELECT Id FROM Lead WHERE Email = 'unterminated",
        "SELECT Id FROM Lead WHERE Email = 'bad \\q escape'",
        "SELECT Id FROM Lead WHERE A = 1 AND B = 2 OR C = 3",  # AND and OR never mix unparenthesised
        "SELECT Id FROM Lead WHERE A = 1 AND NOT B = 2",  # NOT only opens a condition
        "SELECT Id FROM Lead WHERE Email = :bind",
        "SELECT Id FROM Lead LIMIT x",
        "SELECT Id FROM Lead LIMIT 5 extra",
        "SELECT Id FROM Lead WHERE (Email = 'a'",
        "SELECT Id FROM Lead WHERE Email IN ()",
        "SELECT Id FROM Lead WHERE Id IN (SELECT LeadId FROM CampaignMember)",
        "SELECT COUNT(Id) FROM Lead",
        "SELECT Id FROM Lead ORDER BY",
        "SELECT Id FROM Lead WHERE Email == 'x'",
    ],
)
def test_malformed_statements_are_refused(text: str) -> None:
    with pytest.raises(SoqlError) as refused:
        soql.parse(text)
    assert refused.value.code == "MALFORMED_QUERY"


def test_error_message_points_at_the_column_like_salesforce() -> None:
    with pytest.raises(SoqlError) as refused:
        soql.parse("SELECT Id FRM Lead")
    assert refused.value.message == (
        "\nSELECT Id FRM Lead\n          ^\nERROR at Row:1:Column:11\nunexpected token: 'FRM'"
    )


@pytest.mark.parametrize(
    ("text", "code", "fragment"),
    [
        ("SELECT Id FROM Foo", "INVALID_TYPE", "sObject type 'Foo' is not supported"),
        ("SELECT Id, Nope FROM Lead", "INVALID_FIELD", "No such column 'Nope' on entity 'Lead'"),
        ("SELECT Id FROM Lead WHERE Nope = 'x'", "INVALID_FIELD", "No such column 'Nope'"),
        ("SELECT Owner.Name FROM Lead", "INVALID_FIELD", "Didn't understand relationship 'Owner'"),
        ("SELECT Id, id FROM Lead", "MALFORMED_QUERY", "duplicate field selected: Id"),
        ("SELECT Id FROM Account WHERE Description = 'x'", "INVALID_FIELD", "can not be filtered"),
        ("SELECT Id FROM Account ORDER BY Description", "INVALID_FIELD", "can not be sorted"),
        (
            "SELECT Id FROM Lead WHERE SystemModstamp > '2024-01-01T00:00:00Z'",
            "INVALID_QUERY_FILTER_OPERATOR",
            "must be of type dateTime and should not be enclosed in quotes",
        ),
        ("SELECT Id FROM Lead WHERE SystemModstamp > 2024-01-01", "INVALID_QUERY_FILTER_OPERATOR", "dateTime"),
        ("SELECT Id FROM Lead WHERE Email = 5", "INVALID_QUERY_FILTER_OPERATOR", "should be enclosed in quotes"),
        ("SELECT Id FROM Lead WHERE IsConverted = 'false'", "INVALID_QUERY_FILTER_OPERATOR", "boolean"),
        ("SELECT Id FROM Lead WHERE OwnerId = 'not-an-id'", "INVALID_QUERY_FILTER_OPERATOR", "invalid ID field"),
        ("SELECT Id FROM Lead WHERE Id LIKE '00Q%'", "INVALID_QUERY_FILTER_OPERATOR", "LIKE"),
        ("SELECT Id FROM Lead WHERE IsConverted > true", "INVALID_QUERY_FILTER_OPERATOR", "boolean"),
    ],
)
def test_planner_refuses_what_salesforce_refuses(text: str, code: str, fragment: str) -> None:
    with pytest.raises(SoqlError) as refused:
        plan(text)
    assert refused.value.code == code
    assert fragment in refused.value.message


@pytest.fixture(scope="module")
def org() -> Org:
    return generate(5, 400)


def ids(org: Org, text: str, *, include_deleted: bool = False) -> list[str]:
    return matching_ids(org, plan(text), include_deleted=include_deleted)


def test_names_and_string_values_compare_case_insensitively(org: Org) -> None:
    lead = org.get(ids(org, "SELECT Id FROM Lead LIMIT 1")[0])
    assert lead is not None
    assert ids(org, format_soql("select ID from LEAD where EMAIL = {}", str(lead["Email"]).upper())) == [lead["Id"]]


def test_fifteen_character_ids_match_eighteen(org: Org) -> None:
    lead_id = ids(org, "SELECT Id FROM Lead LIMIT 1")[0]
    assert ids(org, format_soql("SELECT Id FROM Lead WHERE Id = {}", lead_id[:15])) == [lead_id]
    assert ids(org, format_soql("SELECT Id FROM Lead WHERE Id IN {}", [lead_id, "00Q000000000001"])) == [lead_id]


def test_query_hides_the_recycle_bin_and_query_all_shows_it(org: Org) -> None:
    live = ids(org, "SELECT Id FROM Lead")
    everything = ids(org, "SELECT Id FROM Lead", include_deleted=True)
    deleted = ids(org, "SELECT Id FROM Lead WHERE IsDeleted = true", include_deleted=True)
    assert deleted and set(deleted).isdisjoint(live)
    assert sorted(everything) == sorted(live + deleted)


def test_order_by_sorts_with_salesforce_null_placement(org: Org) -> None:
    ordered = [org.get(i) for i in ids(org, "SELECT Id FROM Lead ORDER BY NumberOfEmployees, Id")]
    values = [r["NumberOfEmployees"] for r in ordered if r]
    nulls = values.count(None)
    assert nulls and values[:nulls] == [None] * nulls  # ascending: nulls first
    assert values[nulls:] == sorted(values[nulls:])
    descending = [org.get(i) for i in ids(org, "SELECT Id FROM Lead ORDER BY NumberOfEmployees DESC")]
    assert [r["NumberOfEmployees"] for r in descending if r][-nulls:] == [None] * nulls  # descending: last
    stamps = [org.get(i) for i in ids(org, "SELECT Id FROM Lead ORDER BY SystemModstamp DESC, Id LIMIT 30")]
    keys = [(r["SystemModstamp"], r["Id"]) for r in stamps if r]
    assert len(keys) == 30 and [k[0] for k in keys] == sorted((k[0] for k in keys), reverse=True)


def test_datetime_filters_and_boolean_logic(org: Org) -> None:
    after = ids(org, "SELECT Id FROM Contact WHERE SystemModstamp > 2024-06-01T00:00:00Z")
    before = ids(org, "SELECT Id FROM Contact WHERE SystemModstamp <= 2024-06-01T00:00:00Z")
    everyone = ids(org, "SELECT Id FROM Contact")
    assert after and before and sorted(after + before) == sorted(everyone)
    either = ids(org, "SELECT Id FROM Contact WHERE (SystemModstamp > 2024-06-01T00:00:00Z OR AccountId = null)")
    no_account = ids(org, "SELECT Id FROM Contact WHERE AccountId = null")
    assert set(either) == set(after) | set(no_account)
    negated = ids(org, "SELECT Id FROM Contact WHERE NOT (SystemModstamp > 2024-06-01T00:00:00Z)")
    assert sorted(negated) == sorted(before)


def test_like_and_not_in(org: Org) -> None:
    gmail = ids(org, "SELECT Id FROM Contact WHERE Email LIKE '%@GMAIL.COM'")
    assert gmail and all(str(org.get(i)["Email"]).endswith("@gmail.com") for i in gmail)  # type: ignore[index]
    others = ids(org, "SELECT Id FROM Contact WHERE Email NOT IN ('nobody@example.com')")
    assert len(others) == len(ids(org, "SELECT Id FROM Contact WHERE Email != null"))


def test_count_and_limit(org: Org) -> None:
    assert plan("SELECT COUNT() FROM Lead").count
    assert len(ids(org, "SELECT Id FROM Lead LIMIT 7")) == 7


@pytest.mark.parametrize(
    ("header", "size"),
    [(None, 2000), ("batchSize=500", 500), ("batchSize=10", 200), ("batchSize=5000", 2000), ("batchSize=x", 2000)],
)
def test_batch_size_header_is_clamped(header: str | None, size: int) -> None:
    assert batch_size_from(header) == size
