"""`msi-sync doctor` end to end on a synced deployment: clean, then with the problems MSI users actually hit."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from click.testing import Result

from clients.limiter import LimiterConfig, LocalLimiter
from clients.marketo import MarketoClient
from clients.token_cache import LocalTokenCache
from ops.doctor import PROBLEM, lead_field_findings, writeback_field_finding
from tests.cli.conftest import Synced, as_json
from tests.ops.deployment import clients_for
from worker import context

Run = Callable[..., Result]


def _findings(result: Result) -> dict[str, dict[str, Any]]:
    return {f["check"]: f for f in as_json(result)["findings"]}


def test_a_healthy_deployment_passes_every_check(
    synced: Synced, use_env: Callable[[dict[str, str]], None], msi_sync: Run
) -> None:
    use_env(synced.env)
    result = msi_sync("doctor", "--json", "--sample", "200")

    assert result.exit_code == 0, result.output
    findings = _findings(result)
    assert as_json(result)["problems"] == 0
    for check in (
        "salesforce token",
        "salesforce environment",
        "marketo token",
        "marketo link fields",
        "marketo MSI fields",
        "salesforce write-back fields (Lead)",
        "salesforce write-back fields (Contact)",
        "sample: lead found by externalPersonId",
        "sample: sales person email",
        "sample: lead's company",
    ):
        assert findings[check]["status"] == "ok", findings[check]
    assert findings["connection"]["status"] == "warning"  # recorded by the first cycle, not yet verified
    checked = findings["sample: lead found by externalPersonId"]["detail"]
    assert checked.startswith(f"{synced.marketo.store.counts()['leads']} people checked")


@pytest.fixture
def broken_marketo(synced: Synced) -> Iterator[tuple[str, str, str]]:
    """In Marketo: one contact's lead points at another company, its owner's sales person email changed."""
    store = synced.marketo.store
    with store.lock:
        lead = next(
            store.leads.stored[i]
            for i in store.leads.synced_ids()
            if str(store.leads.stored[i]["externalPersonId"]).startswith("003")
            and store.leads.stored[i].get("externalCompanyId")
            and store.leads.stored[i].get("externalSalesPersonId")
        )
        owner = lead["externalSalesPersonId"]
        people = store.tables["salespersons"]
        person = people.records[people.find("externalSalesPersonId", owner)[0]]
        saved = (lead["externalCompanyId"], person["email"])
        lead["externalCompanyId"], person["email"] = "001000000000000AAA", "someone.else@example.com"
    yield lead["externalPersonId"], owner, saved[0]
    with store.lock:
        lead["externalCompanyId"], person["email"] = saved


def test_problems_are_named_with_how_to_fix_them_and_exit_non_zero(
    synced: Synced, broken_marketo: tuple[str, str, str], use_env: Callable[[dict[str, str]], None], msi_sync: Run
) -> None:
    contact, owner, account = broken_marketo
    use_env(synced.env)
    result = msi_sync("doctor", "--json", "--sample", "200")

    assert result.exit_code == 1
    findings = _findings(result)
    company = findings["sample: lead's company"]
    assert company["status"] == PROBLEM and company["detail"].startswith("1 of the sample")
    assert company["examples"] == [f"Contact {contact}: Marketo has 001000000000000AAA, Salesforce account {account}"]
    email = findings["sample: sales person email"]
    assert email["status"] == PROBLEM and email["examples"] == [f"User {owner}"] and email["fix"]
    assert "someone.else" not in result.stdout  # emails are personal data: the user is named, not the address

    text = msi_sync("doctor", "--sample", "200")
    assert text.exit_code == 1 and "fix: the next cycle corrects" in text.stdout and "2 problems found" in text.stdout


def test_refused_marketo_credentials_stop_the_dependent_checks(
    synced: Synced, use_env: Callable[[dict[str, str]], None], msi_sync: Run
) -> None:
    use_env({**synced.env, "MARKETO_CLIENT_SECRET": "not-the-secret"})
    result = msi_sync("doctor", "--json")
    findings = _findings(result)
    assert result.exit_code == 1
    assert (
        findings["marketo token"]["status"] == PROBLEM and "MARKETO_CLIENT_SECRET" in findings["marketo token"]["fix"]
    )
    assert findings["sample of synced people"]["status"] == "skipped"
    assert "not-the-secret" not in result.stdout


def test_missing_msi_fields_are_found_in_the_real_describe_answers(
    synced: Synced, use_env: Callable[[dict[str, str]], None]
) -> None:
    use_env(synced.env)
    settings = context.settings()
    marketo = MarketoClient.from_settings(settings, LocalLimiter(LimiterConfig()), LocalTokenCache())
    described = marketo.describe("leads")
    assert all(f.status == "ok" for f in lead_field_findings(described))
    without = {
        **described,
        "fields": [f for f in described["fields"] if f["name"] not in ("externalPersonId", "relativeScoring")],
    }
    links, msi = lead_field_findings(without)
    assert links.status == PROBLEM and links.detail == "missing: externalPersonId" and "MSI Non-Native" in links.fix
    assert msi.status == PROBLEM and msi.detail == "missing: relativeScoring"

    salesforce, _ = clients_for(settings)
    lead = salesforce.describe("Lead")
    assert writeback_field_finding("Lead", lead).status == "ok"
    fields = [f for f in lead["fields"] if f["name"] != "mkto_si__Priority__c"]
    fields = [{**f, "updateable": False} if f["name"] == "mkto_si__Urgency_Value__c" else f for f in fields]
    found = writeback_field_finding("Lead", {**lead, "fields": fields})
    assert found.status == PROBLEM
    assert found.detail == "missing: mkto_si__Priority__c; not updateable: mkto_si__Urgency_Value__c"
    assert "field-level security" in found.fix


def test_the_write_backs_own_field_check_is_used_when_it_offers_one() -> None:
    from ops.doctor import _adapt

    @dataclass
    class Problem:
        sobject: str
        message: str
        fix: str

    def check_target_fields(salesforce: object) -> list[Problem]:
        return [Problem("Lead", "Lead has no field Score__c", "create it")]

    found = _adapt(check_target_fields)(None)  # type: ignore[arg-type]
    assert [(f.check, f.status, f.detail, f.fix) for f in found] == [
        ("salesforce write-back fields (Lead)", PROBLEM, "Lead has no field Score__c", "create it"),
        ("salesforce write-back fields (Contact)", "ok", "every mapped target field is writable", ""),
    ]
