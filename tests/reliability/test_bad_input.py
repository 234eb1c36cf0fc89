"""A Salesforce org seeded with bad input, synced by a real worker on Redis and PostgreSQL into the Marketo simulator.

Record by record, from the Salesforce simulator's org: every live record is in Marketo, correctly
linked, or has an open failure whose message names the cause; each kind of bad input has its own
expected outcome; the run's counts add up and `msi-sync status/failures --json` show the same.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from clients.sfids import PREFIX_QUEUE, to_18
from models.runs import SyncRun
from tests.integration.conftest import Stack
from tests.integration.oracle import actual_state, expected_state
from tests.reliability.service import msi_sync, open_failures

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

SIZE, SEED = 800, 31
# A long text area beyond Marketo's 2,000 characters (the generator's long texts fit their fields).
LONG_DESCRIPTION = "Renewal notes. " * 400

# Every error a bad record may end with, and the words that tell an admin what is wrong.
ERROR_REASONS = {
    "MISSING_NAME": re.compile(r"^the opportunity has no Name, which Marketo requires$"),
    "CONTACT_DELETED": re.compile(r"its contact 003\w{15} was deleted in Salesforce; restore the contact"),
    "DEPENDENCY_MISSING": re.compile(r"^not sent: its (owner|account|opportunity) \w{18} is not .*; see that \w+'s"),
}
WARNING_REASONS = {
    "INVALID_EMAIL": re.compile(r"^email '.*' is not a valid ASCII address; sent without an email"),
    "CONTROL_CHARACTERS": re.compile(r"^\w+: control characters removed"),
    "TRUNCATED": re.compile(r"^\w+: \d+ characters cut to Marketo's \d+"),
}
VALID_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass
class Seen:
    """The org, what Marketo holds, and the open failures `msi-sync failures list --json` shows, after a run."""

    org: Any
    marketo: dict[str, dict[Any, dict[str, Any]]]  # Marketo's records by their external key
    errors: dict[tuple[str, str], dict[str, Any]]  # (object type, Salesforce id) -> open error
    warnings: dict[tuple[str, str], list[dict[str, Any]]]

    def live(self, sobject: str) -> Iterator[dict[str, Any]]:
        for record in self.org.records(sobject, include_deleted=False):
            if not record.get("IsConverted"):
                yield record

    def user(self, user_id: str) -> dict[str, Any] | None:
        return self.org.get(user_id)

    def warning(self, obj: str, sf_id: str) -> str:
        """The open warning's message (one per record: it names every value that was dropped or changed)."""
        found = self.warnings.get((obj, sf_id), [])
        assert len(found) <= 1, found
        return str(found[0]["message"]) if found else ""


def seen_after_run(stack: Stack) -> Seen:
    store = stack.marketo.store
    keys = {
        "salespersons": "externalSalesPersonId",
        "companies": "externalCompanyId",
        "leads": "externalPersonId",
        "opportunities": "externalOpportunityId",
    }
    marketo = {obj: {r[key]: r for r in store.records(obj) if r.get(key)} for obj, key in keys.items()}
    errors: dict[tuple[str, str], dict[str, Any]] = {}
    for failure in open_failures(stack, "error"):
        assert (failure["object_type"], failure["sf_id"]) not in errors, f"two open errors for one record: {failure}"
        errors[failure["object_type"], failure["sf_id"]] = failure
    warnings: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for failure in open_failures(stack, "warning"):
        warnings[failure["object_type"], failure["sf_id"]].append(failure)
    return Seen(stack.salesforce.org, marketo, errors, dict(warnings))


def role_ids(org: Any) -> dict[tuple[str, str, str], str]:
    """Marketo's key of a role (opportunity, contact, role) -> the OpportunityContactRole id."""
    return {
        (to_18(r["OpportunityId"]), to_18(r["ContactId"]), r["Role"] or "Unspecified"): to_18(r["Id"])
        for r in org.records("OpportunityContactRole", include_deleted=False)
    }


def check_record_by_record(stack: Stack, seen: Seen) -> list[str]:
    """Every record Marketo should hold is there with the oracle's links, or has an open error that says why."""
    expected = expected_state(seen.org)
    actual, duplicates = actual_state(stack.marketo.store)
    problems = [f"duplicate in Marketo: {d}" for d in duplicates]
    roles = role_ids(seen.org)
    explained: set[tuple[str, str]] = set()
    for obj, wanted in expected.items():
        for key, values in wanted.items():
            sf_id = roles[key] if obj == "roles" else key
            error = seen.errors.get((obj, sf_id))
            if key in actual[obj]:
                if actual[obj][key] != values:
                    problems.append(f"{obj} {key} arrived as {actual[obj][key]}, expected {values}")
                if error is not None:
                    problems.append(f"{obj} {key} is in Marketo but its failure is still open: {error}")
            elif error is None:
                problems.append(f"{obj} {key} is neither in Marketo nor in the failures table")
            else:
                explained.add((obj, sf_id))
                reason = ERROR_REASONS.get(error["code"])
                if reason is None or not reason.search(error["message"]):
                    problems.append(f"{obj} {sf_id} failed without an actionable reason: {error}")
        problems += [f"{obj} {key} is in Marketo but not in Salesforce" for key in set(actual[obj]) - set(wanted)]
    # Live roles Marketo must not hold (their contact is deleted) need an open error too.
    for key, sf_id in roles.items():
        if key not in expected["roles"]:
            error = seen.errors.get(("roles", sf_id))
            if error is None or not ERROR_REASONS[error["code"]].search(error["message"]):
                problems.append(f"role {sf_id} {key} is not in Marketo, and no failure says why: {error}")
            explained.add(("roles", sf_id))
    problems += [f"open error for a record that needs none: {e}" for k, e in seen.errors.items() if k not in explained]
    arrived = {obj: {roles.get(key, key) for key in have} for obj, have in actual.items()}
    for (obj, sf_id), found in seen.warnings.items():
        if sf_id not in arrived[obj]:
            problems.append(f"a warning is only for a record that arrived: {found}")
        for warning in found:
            reason = WARNING_REASONS.get(warning["code"])
            if reason is None or not reason.match(warning["message"]):
                problems.append(f"{sf_id}: warning without a readable reason: {warning}")
    return problems


def check_counts_and_cli(stack: Stack, run: SyncRun) -> None:
    """Per object type, extracted = unchanged + invalid + staged and staged + retried + follow-ups = sent +
    failed; `msi-sync status --json` shows the same numbers, `failures list` as many open errors."""
    for kind, counts in run.summary.items():
        assert counts["extracted"] == counts["unchanged"] + counts["invalid"] + counts["staged"], (kind, counts)
        assert counts["staged"] + counts["retried"] + counts["followups"] == counts["sent"] + counts["failed"], (
            kind,
            counts,
        )
    status = msi_sync(stack, "status", "--json")
    assert status.exit_code == 0, status.stderr
    report = status.json
    shown = next(r for r in report["runs"] if r["run"] == run.id)
    assert shown["status"] == "succeeded"
    names = {
        "extracted": "extracted",
        "sent": "synced",
        "unchanged": "skipped",
        "invalid": "invalid",
        "failed": "failed",
        "warnings": "warnings",
        "retried": "retried",
    }
    for kind, counts in run.summary.items():
        assert {label: shown["objects"][kind][label] for label in names.values()} == {
            label: counts[key] for key, label in names.items()
        }, kind
    listed = msi_sync(stack, "failures", "list", "--status", "open", "--kind", "error", "--json", "--limit", "1")
    assert listed.json["total"] == report["backlog"]["open_failures"]


def no_crash(stack: Stack, run: SyncRun) -> None:
    assert run.status == "succeeded", run.error
    for log in stack.log_dir.glob("worker-*.log"):
        text = log.read_text(errors="replace")
        assert "Traceback" not in text and "ERROR/" not in text, f"{log}:\n{text[-3000:]}"


@pytest.fixture
def synced(stack_factory: Any) -> tuple[Stack, SyncRun]:
    """A bad-input org (plus one over-long text area) after a full sync by a real worker."""
    stack: Stack = stack_factory(size=SIZE, seed=SEED, bad_input=True)
    org = stack.salesforce.org
    opportunity = next(o for o in org.records("Opportunity", include_deleted=False) if o["Name"] and o["AccountId"])
    org.update(opportunity["Id"], {"Description": LONG_DESCRIPTION})
    stack.start_worker()
    run = stack.sync()
    no_crash(stack, run)
    return stack, run


def test_every_record_arrives_linked_or_fails_with_a_reason_an_admin_can_act_on(synced: tuple[Stack, SyncRun]) -> None:
    stack, run = synced
    seen = seen_after_run(stack)
    assert check_record_by_record(stack, seen) == []
    assert seen.errors and seen.warnings  # the org's bad input did reach both
    check_counts_and_cli(stack, run)
    # On a first sync each failed record failed once: the failures table holds exactly those.
    assert len(seen.errors) == sum(c["invalid"] + c["failed"] for c in run.summary.values())


def test_each_kind_of_bad_input_has_its_expected_outcome(synced: tuple[Stack, SyncRun]) -> None:
    stack, _ = synced
    seen = seen_after_run(stack)
    people, opportunities = seen.marketo["leads"], seen.marketo["opportunities"]
    persons = [*seen.live("Lead"), *seen.live("Contact")]

    # 15-character ids in reference fields: normalised to 18 characters and linked (a queue owner to no one).
    linked_owners = 0
    for sobject, field, obj, link in (
        ("Account", "OwnerId", "companies", "externalSalesPersonId"),
        ("Contact", "OwnerId", "leads", "externalSalesPersonId"),
        ("Lead", "OwnerId", "leads", "externalSalesPersonId"),
        ("Contact", "AccountId", "leads", "externalCompanyId"),
        ("Opportunity", "AccountId", "opportunities", "externalCompanyId"),
    ):
        short = [r for r in seen.live(sobject) if r[field] and len(r[field]) == 15]
        arrived = [(r, seen.marketo[obj][to_18(r["Id"])]) for r in short if to_18(r["Id"]) in seen.marketo[obj]]
        assert arrived, f"no {sobject} with a 15-character {field} arrived"
        for record, sent in arrived:
            expected = to_18(record[field])
            if field == "OwnerId" and (seen.user(expected) or {}).get("UserType") != "Standard":
                expected = None  # a queue, or an automated user
            assert sent.get(link) == expected, (sobject, field, record["Id"], sent.get(link))
            if expected is not None:
                assert expected in seen.marketo["salespersons" if field == "OwnerId" else "companies"]
                linked_owners += field == "OwnerId"
    assert linked_owners, "no record with a 15-character owner id arrived linked to its sales person"
    roles_sent = actual_state(stack.marketo.store)[0]["roles"]
    assert [
        r
        for r in seen.live("OpportunityContactRole")
        if len(r["ContactId"]) == 15
        and (to_18(r["OpportunityId"]), to_18(r["ContactId"]), r["Role"] or "Unspecified") in roles_sent
    ], "no role with a 15-character ContactId arrived on its contact's lead"

    # Invalid and non-ASCII emails: the person arrives without an email, with a warning naming the value.
    bad_emails = [r for r in persons if r["Email"] and not VALID_EMAIL.fullmatch(r["Email"])]
    assert {"jürgen.müller@münchen.de", "anna@bücher.example"} <= {r["Email"] for r in bad_emails}
    for record in bad_emails:
        sf_id = to_18(record["Id"])
        assert people[sf_id].get("email") is None, sf_id
        assert f"email {record['Email']!r} is not a valid ASCII address" in seen.warning("leads", sf_id)

    # Queue-owned leads arrive without a sales person; inactive owners are still their sales person.
    queued = [r for r in seen.live("Lead") if r["OwnerId"].startswith(PREFIX_QUEUE)]
    assert queued
    assert all(people[to_18(r["Id"])].get("externalSalesPersonId") is None for r in queued)
    inactive = [
        (r, obj)
        for sobject, obj in (("Account", "companies"), ("Contact", "leads"), ("Lead", "leads"))
        for r in seen.live(sobject)
        if not r["OwnerId"].startswith(PREFIX_QUEUE) and not seen.user(r["OwnerId"])["IsActive"]
    ]
    assert {obj for _, obj in inactive} == {"companies", "leads"}
    for record, obj in inactive:
        owner = seen.marketo[obj][to_18(record["Id"])].get("externalSalesPersonId")
        assert owner == to_18(record["OwnerId"]) and owner in seen.marketo["salespersons"]

    # Contacts and opportunities without an account arrive without a company.
    orphans = [r for r in seen.live("Contact") if not r["AccountId"]]
    assert orphans and all(people[to_18(r["Id"])].get("externalCompanyId") is None for r in orphans)
    no_account = [r for r in seen.live("Opportunity") if not r["AccountId"] and r["Name"]]
    assert no_account and all(opportunities[to_18(r["Id"])].get("externalCompanyId") is None for r in no_account)

    # Roles pointing at deleted contacts fail, naming the contact.
    orphan_roles = [r for r in seen.live("OpportunityContactRole") if seen.org.get(r["ContactId"])["IsDeleted"]]
    assert orphan_roles
    for role in orphan_roles:
        error = seen.errors[("roles", to_18(role["Id"]))]
        assert error["code"] == "CONTACT_DELETED" and to_18(role["ContactId"]) in error["message"]

    # Null required fields: an opportunity without a Name fails (and so do its roles, pointing at it);
    # a lead without a last name arrives (Marketo requires none).
    nameless = [r for r in seen.live("Opportunity") if not r["Name"]]
    assert nameless
    for opportunity in nameless:
        assert seen.errors[("opportunities", to_18(opportunity["Id"]))]["code"] == "MISSING_NAME"
        for role in seen.live("OpportunityContactRole"):
            if role["OpportunityId"] == opportunity["Id"] and not seen.org.get(role["ContactId"])["IsDeleted"]:
                error = seen.errors[("roles", to_18(role["Id"]))]
                assert error["code"] == "DEPENDENCY_MISSING" and to_18(opportunity["Id"]) in error["message"]
    unnamed_leads = [r for r in seen.live("Lead") if not r["LastName"]]
    assert unnamed_leads and all(people[to_18(r["Id"])].get("lastName") is None for r in unnamed_leads)

    # Very long text: values that fit arrive whole; a longer one is cut to Marketo's length, with a warning.
    long_names = [r for r in seen.live("Account") if len(r["Name"]) == 255]
    assert long_names and all(seen.marketo["companies"][to_18(r["Id"])].get("company") == r["Name"] for r in long_names)
    long_streets = [r for r in seen.live("Lead") if r["Street"] and len(r["Street"]) == 255]
    assert long_streets and all(people[to_18(r["Id"])].get("address") == r["Street"] for r in long_streets)
    described = next(r for r in seen.live("Opportunity") if r["Description"] == LONG_DESCRIPTION)
    assert opportunities[to_18(described["Id"])].get("description") == LONG_DESCRIPTION[:2000]
    assert seen.warning("opportunities", to_18(described["Id"])) == "description: 6000 characters cut to Marketo's 2000"

    # Emoji, other scripts, tabs and line breaks arrive as they are; control characters are removed, with a warning.
    odd = [
        r
        for r in persons
        if any(
            not (r[f] or "").isascii() or CONTROL.search(r[f] or "") or "\t" in (r[f] or "") or "\n" in (r[f] or "")
            for f in ("FirstName", "LastName")
        )
    ]
    assert any("😀" in (r["LastName"] or "") for r in odd) and any(CONTROL.search(r["FirstName"] or "") for r in odd)
    for record in odd:
        sent = people[to_18(record["Id"])]
        for field, marketo_field in (("FirstName", "firstName"), ("LastName", "lastName")):
            value = record[field] or None
            assert sent.get(marketo_field) == (CONTROL.sub("", value) if value else value), (record["Id"], field)
            if value and CONTROL.search(value):
                assert f"{marketo_field}: control characters removed" in seen.warning("leads", to_18(record["Id"]))

    # The same person twice (two Salesforce leads, one email): two Marketo leads, one per Salesforce record.
    by_person: dict[tuple[Any, ...], list[str]] = defaultdict(list)
    for record in seen.live("Lead"):
        if record["Email"] and VALID_EMAIL.fullmatch(record["Email"]):
            by_person[(record["Email"], record["FirstName"], record["LastName"])].append(to_18(record["Id"]))
    twins = [ids for ids in by_person.values() if len(ids) > 1]
    assert twins
    for ids in twins:
        sent = [people[sf_id] for sf_id in ids]
        assert len({lead["id"] for lead in sent}) == len(ids)
        assert {lead["externalPersonId"] for lead in sent} == set(ids)

    # Converted leads live on as their contact; merged-away leads are gone; neither is a failure.
    converted = [r for r in seen.org.records("Lead", include_deleted=False) if r["IsConverted"]]
    merged = [r for r in seen.org.records("Lead") if r["MasterRecordId"]]
    assert converted and merged
    for record in converted + merged:
        sf_id = to_18(record["Id"])
        assert sf_id not in people and ("leads", sf_id) not in seen.errors
    for record in converted:
        contact = seen.org.get(record["ConvertedContactId"])
        assert contact["IsDeleted"] or to_18(contact["Id"]) in people


@pytest.mark.slow
def test_fixing_bad_records_in_salesforce_resolves_their_failures_next_cycle(synced: tuple[Stack, SyncRun]) -> None:
    stack, _ = synced
    org = stack.salesforce.org
    before = seen_after_run(stack)
    nameless = [r for r in before.live("Opportunity") if not r["Name"]]
    deleted_contacts = {
        to_18(r["ContactId"])
        for r in before.live("OpportunityContactRole")
        if org.get(r["ContactId"])["IsDeleted"] and not org.get(r["ContactId"])["MasterRecordId"]
    }
    bad_email = next(r for r in before.live("Lead") if "not a valid ASCII" in before.warning("leads", to_18(r["Id"])))
    assert len(nameless) >= 2 and deleted_contacts

    # An admin fixes some of them in Salesforce: one opportunity gets its Name, one contact comes back
    # from the recycle bin, one lead gets a valid email. The rest stay as they were.
    fixed_opportunity, unfixed_opportunity = to_18(nameless[0]["Id"]), to_18(nameless[1]["Id"])
    org.update(fixed_opportunity, {"Name": "Fixed Renewal"})
    restored_contact = sorted(deleted_contacts)[0]
    org.undelete(restored_contact)
    org.update(bad_email["Id"], {"Email": "fixed.address@example.com"})

    run = stack.sync()
    no_crash(stack, run)
    after = seen_after_run(stack)
    assert check_record_by_record(stack, after) == []
    check_counts_and_cli(stack, run)

    assert after.marketo["opportunities"][fixed_opportunity].get("name") == "Fixed Renewal"
    assert ("opportunities", fixed_opportunity) not in after.errors
    assert after.errors[("opportunities", unfixed_opportunity)]["code"] == "MISSING_NAME"
    assert restored_contact in after.marketo["leads"]
    role_failures = {k: e for k, e in before.errors.items() if k[0] == "roles"}
    fixed_roles = {
        k for k, e in role_failures.items() if fixed_opportunity in e["message"] or restored_contact in e["message"]
    }
    assert fixed_roles, "no role waited on the fixed records"
    assert not fixed_roles & set(after.errors), "roles waiting on fixed records are still failing"
    assert set(role_failures) - fixed_roles <= set(after.errors)
    fixed_lead = to_18(bad_email["Id"])
    assert after.marketo["leads"][fixed_lead].get("email") == "fixed.address@example.com"
    assert after.warning("leads", fixed_lead) == ""
    # The fixed records' failures are resolved, not deleted: the admin can see what happened.
    resolved = msi_sync(stack, "failures", "list", "--status", "resolved", "--json", "--limit", "1000").json["failures"]
    assert {(f["object_type"], f["sf_id"]) for f in resolved} >= {
        ("opportunities", fixed_opportunity),
        ("leads", fixed_lead),
        *fixed_roles,
    }
