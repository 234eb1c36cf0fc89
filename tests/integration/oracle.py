"""The known answer: what Marketo must hold after a full sync of a Salesforce org, derived on its own.

This restates the sync's rules independently of pipeline/mapping.py, so a mapping bug shows
up as a difference instead of being copied into the expectation.
"""

from __future__ import annotations

import re
from typing import Any

from clients.sfids import to_18

EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z0-9-]+")


def _id(value: Any) -> str | None:
    return to_18(value) if value else None


def _email(value: Any) -> str | None:
    if not value or not str(value).isascii() or not EMAIL.fullmatch(str(value)):
        return None
    return str(value)


def expected_state(
    org: Any, *, kept_people: frozenset[str] | set[str] = frozenset()
) -> dict[str, dict[Any, dict[str, Any]]]:
    """Marketo's state after syncing `org`; `kept_people` are people synced earlier and since
    deleted in Salesforce, which stay in Marketo under DELETED_PEOPLE=keep (the default)."""
    users = {to_18(u["Id"]): u for u in org.records("User")}

    def owner(value: Any) -> str | None:
        owner_id = _id(value)
        user = users.get(owner_id or "")
        return owner_id if user is not None and user["UserType"] == "Standard" else None

    state: dict[str, dict[Any, dict[str, Any]]] = {
        k: {} for k in ("salespersons", "companies", "leads", "opportunities", "roles")
    }
    for user_id, user in users.items():
        if user["UserType"] == "Standard":
            state["salespersons"][user_id] = {"email": _email(user["Email"]), "lastName": user["LastName"]}
    live_accounts = {to_18(a["Id"]): a for a in org.records("Account", include_deleted=False)}
    for account_id, account in live_accounts.items():
        state["companies"][account_id] = {
            "company": account["Name"],
            "externalSalesPersonId": owner(account["OwnerId"]),
        }

    def present(record: dict[str, Any]) -> bool:
        return not record["IsDeleted"] or (to_18(record["Id"]) in kept_people and not record.get("MasterRecordId"))

    for lead in org.records("Lead"):
        if present(lead) and not lead["IsConverted"]:
            state["leads"][to_18(lead["Id"])] = {
                "externalSalesPersonId": owner(lead["OwnerId"]),
                "externalCompanyId": None,
                "email": _email(lead["Email"]),
            }
    live_contacts = set()
    for contact in org.records("Contact"):
        if not present(contact):
            continue
        live_contacts.add(to_18(contact["Id"]))
        state["leads"][to_18(contact["Id"])] = {
            "externalSalesPersonId": owner(contact["OwnerId"]),
            "externalCompanyId": _id(contact["AccountId"]),
            "email": _email(contact["Email"]),
        }
    live_opportunities = set()
    for opportunity in org.records("Opportunity", include_deleted=False):
        live_opportunities.add(to_18(opportunity["Id"]))
        state["opportunities"][to_18(opportunity["Id"])] = {
            "name": opportunity["Name"],
            "externalCompanyId": _id(opportunity["AccountId"]),
            "externalSalesPersonId": owner(opportunity["OwnerId"]),
        }
    for role in org.records("OpportunityContactRole", include_deleted=False):
        opportunity_id, contact_id = _id(role["OpportunityId"]), _id(role["ContactId"])
        if opportunity_id in live_opportunities and contact_id in live_contacts:
            key = (opportunity_id, contact_id, role["Role"] or "Unspecified")
            state["roles"][key] = {"isPrimary": bool(role["IsPrimary"])}
    return state


def actual_state(store: Any) -> tuple[dict[str, dict[Any, dict[str, Any]]], list[str]]:
    """Marketo's records in the oracle's shape, and any duplicates found (keys seen twice)."""
    state: dict[str, dict[Any, dict[str, Any]]] = {}
    duplicates: list[str] = []

    def put(obj: str, key: Any, value: dict[str, Any]) -> None:
        if key in state.setdefault(obj, {}):
            duplicates.append(f"{obj} {key}")
        state[obj][key] = value

    for person in store.records("salespersons"):
        put(
            "salespersons",
            person["externalSalesPersonId"],
            {"email": person.get("email"), "lastName": person.get("lastName")},
        )
    for company in store.records("companies"):
        put(
            "companies",
            company["externalCompanyId"],
            {"company": company.get("company"), "externalSalesPersonId": company.get("externalSalesPersonId")},
        )
    person_of: dict[Any, Any] = {}
    for lead in store.records("leads"):
        if not lead.get("externalPersonId"):
            continue  # Marketo's own leads (form fills): not the sync's business
        person_of[lead["id"]] = lead["externalPersonId"]
        put(
            "leads",
            lead["externalPersonId"],
            {
                "externalSalesPersonId": lead.get("externalSalesPersonId"),
                "externalCompanyId": lead.get("externalCompanyId"),
                "email": lead.get("email"),
            },
        )
    for opportunity in store.records("opportunities"):
        put(
            "opportunities",
            opportunity["externalOpportunityId"],
            {
                "name": opportunity.get("name"),
                "externalCompanyId": opportunity.get("externalCompanyId"),
                "externalSalesPersonId": opportunity.get("externalSalesPersonId"),
            },
        )
    for role in store.records("roles"):
        key = (role["externalOpportunityId"], person_of.get(role["leadId"], f"lead {role['leadId']}"), role["role"])
        put("roles", key, {"isPrimary": bool(role.get("isPrimary"))})
    for obj in ("salespersons", "companies", "leads", "opportunities", "roles"):
        state.setdefault(obj, {})
    return state, duplicates


def differences(expected: dict[str, dict[Any, Any]], actual: dict[str, dict[Any, Any]], limit: int = 10) -> list[str]:
    """Readable differences: missing, extra, and differing records, a few per object."""
    found: list[str] = []
    for obj, wanted in expected.items():
        have = actual.get(obj, {})
        missing = [k for k in wanted if k not in have]
        extra = [k for k in have if k not in wanted]
        wrong = [k for k in wanted if k in have and have[k] != wanted[k]]
        found += [f"{obj} missing {k}: {wanted[k]}" for k in missing[:limit]]
        found += [f"{obj} extra {k}: {have[k]}" for k in extra[:limit]]
        found += [f"{obj} differs {k}: expected {wanted[k]} got {have[k]}" for k in wrong[:limit]]
    return found
