"""What Sync, Delete and Merge do to the store, in two phases around the simulated processing time.

Phase 1 (``plan_*``) validates the request and looks the keys up; phase 2 (``apply_*``) runs
after the processing delay and writes. A createOrUpdate record whose key was NOT found in
phase 1 is inserted in phase 2 without looking again: two overlapping calls that carry the same
new key therefore both create a record, the duplicate Adobe warns about (DEV/leads "duplicate
records may result when making multiple requests with the same key value"); later upserts on
that key get 1007. createOnly looks again in phase 2 and so never duplicates (as DEV/leads
advises). The race is modelled for every object, not only leads (decision: stricter).

Codes (DEV/error-codes unless marked):
* 1002 a key part (or an opportunity's ``name``) is missing; 1006 unknown field; 1001 bad value;
* 1003 a read-only field (MSI fields, id, createdAt...) is written (decision), ``id`` on a lead
  outside updateOnly (documented), or a non-updateable field is changed on update (decision);
* leads: 1004 not found (updateOnly), 1005 exists (createOnly), 1007 several match, 1021 company
  fields (company, industry, annualRevenue, numberOfEmployees) sent on a lead that is or becomes
  linked to a company (decision on which fields: those the lead inherits from its company);
* other objects: 1013 not found (documented for deletes; used for updateOnly too), 1017 exists
  (createOnly), 1007 several match (decision), 1036 same key twice in one input (later copies);
* a lead, company or opportunity naming a sales person or company that does not exist is
  skipped with 1013 (decision: UNCONFIRMED; the strict reading makes a sync that runs out of
  order visible), except Sync Opportunities' unknown externalSalesPersonId, which fails the
  whole call with 718 (DEV/error-codes); a role whose opportunity or lead is missing: 1013;
* input over 300 records: response-level 1003 (UNCONFIRMED); missing/empty input: 701.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from simulators.marketo.envelope import MarketoError, skipped
from simulators.marketo.schema import LEAD_COMPANY_FIELDS, LEADS, OBJECTS, ObjectType
from simulators.marketo.store import Key, Store, key_of
from simulators.marketo.values import InvalidValue, normalise, now_iso

MAX_INPUT = 300
ACTIONS = ("createOnly", "updateOnly", "createOrUpdate")
LEAD_ACTIONS = (*ACTIONS, "createDuplicate")
REFERENCES: dict[str, tuple[tuple[str, str, str], ...]] = {
    # field on the record -> (table, field there, what the message calls it)
    "companies": (("externalSalesPersonId", "salespersons", "Sales person"),),
    "opportunities": (("externalCompanyId", "companies", "Company"),),
    "roles": (("externalOpportunityId", "opportunities", "Opportunity"), ("leadId", "leads", "Lead")),
    "leads": (("externalSalesPersonId", "salespersons", "Sales person"), ("externalCompanyId", "companies", "Company")),
}


@dataclass
class Planned:
    index: int
    values: dict[str, Any] = field(default_factory=dict)
    outcome: dict[str, Any] | None = None  # decided in phase 1 (a skip)
    key: Key | None = None
    lookup: str = ""
    record_id: Any = None  # update by id (idField, or a lead's id with updateOnly)
    seen: bool = False  # phase 1 found the key


@dataclass
class SyncPlan:
    obj: str
    action: str
    records: list[Planned]


def input_records(body: Any, *, limit: int = MAX_INPUT) -> list[Any]:
    if not isinstance(body, dict):
        raise MarketoError("609", "Invalid JSON")
    records = body.get("input")
    if not isinstance(records, list) or not records:
        raise MarketoError("701", "input cannot be blank")
    if len(records) > limit:
        raise MarketoError("1003", f"Invalid data: input has {len(records)} records, the maximum is {limit}")
    return records


def _values(otype: ObjectType, raw: Any, allowed_read_only: frozenset[str]) -> dict[str, Any]:
    """Checked, normalised values of one input record; raises _Skip."""
    if not isinstance(raw, dict):
        raise _Skip("1003", "Invalid data")
    values: dict[str, Any] = {}
    for name, value in raw.items():
        spec = otype.by_name.get(name)
        if spec is None:
            raise _Skip("1006", f"Field '{name}' not found")
        if spec.read_only and name not in allowed_read_only:
            raise _Skip("1003", f"Field '{name}' is read-only")
        try:
            values[name] = normalise(spec, value)
        except InvalidValue as error:
            raise _Skip("1001", str(error)) from None
    return values


class _Skip(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.result = skipped(code, message)


# --- Sales persons, companies, opportunities, roles -------------------------------------
def plan_sync(store: Store, obj: str, body: Any) -> SyncPlan:
    otype = OBJECTS[obj]
    records = input_records(body)
    action = body.get("action") or "createOrUpdate"
    dedupe_by = body.get("dedupeBy") or "dedupeFields"
    if action not in ACTIONS:
        raise MarketoError("1003", f"Invalid action '{action}'")
    if dedupe_by not in ("dedupeFields", "idField"):
        raise MarketoError("1003", f"Invalid dedupeBy '{dedupe_by}'")
    if dedupe_by == "idField" and action == "createOnly":
        raise MarketoError("1003", "dedupeBy idField is not allowed with createOnly")
    plan = SyncPlan(obj, action, [])
    seen_keys: set[Key] = set()
    with store.lock:
        table = store.tables[obj]
        for index, raw in enumerate(records):
            planned = Planned(index)
            plan.records.append(planned)
            try:
                planned.values = _values(otype, raw, frozenset({otype.id_field}))
                _plan_key(otype, planned, dedupe_by, action)
            except _Skip as skip:
                planned.outcome = skip.result
                continue
            if planned.key is not None:
                if planned.key in seen_keys:
                    planned.outcome = skipped("1036", "Duplicate object found in input")
                    continue
                seen_keys.add(planned.key)
                planned.seen = bool(table.matches(planned.key))
        if obj == "opportunities":
            _require_sales_persons(store, plan)
    return plan


def _plan_key(otype: ObjectType, planned: Planned, dedupe_by: str, action: str) -> None:
    values = planned.values
    record_id = values.pop(otype.id_field, None)
    if dedupe_by == "idField" or (action == "updateOnly" and record_id is not None and key_of(otype, values) is None):
        if record_id is None:
            raise _Skip("1002", f"Missing value for the required parameter '{otype.id_field}'")
        planned.record_id = record_id
        return
    if record_id is not None:
        raise _Skip("1003", f"Field '{otype.id_field}' is read-only")
    planned.key = key_of(otype, values)
    if planned.key is None:
        missing = next(name for name in otype.dedupe_fields if values.get(name) in (None, ""))
        raise _Skip("1002", f"Missing value for the required parameter '{missing}'")


def _require_sales_persons(store: Store, plan: SyncPlan) -> None:
    owners = store.tables["salespersons"]
    for planned in plan.records:
        owner = planned.values.get("externalSalesPersonId") if planned.outcome is None else None
        if owner is not None and not owners.find("externalSalesPersonId", owner):
            raise MarketoError("718", "ExternalSalesPersonID not found")


def apply_sync(store: Store, plan: SyncPlan) -> list[dict[str, Any]]:
    otype = OBJECTS[plan.obj]
    results: list[dict[str, Any]] = []
    with store.lock:
        for planned in plan.records:
            outcome = planned.outcome or _apply_one(store, otype, plan.action, planned)
            results.append({"seq": planned.index, **outcome})
        return results


def _apply_one(store: Store, otype: ObjectType, action: str, planned: Planned) -> dict[str, Any]:
    table = store.tables[otype.name]
    try:
        _check_references(store, otype.name, planned.values)
        if planned.record_id is not None:
            target = planned.record_id if planned.record_id in table.records else None
            if target is None:
                raise _Skip("1013", "Record not found")
        else:
            assert planned.key is not None
            target = _resolve(
                action,
                planned.seen,
                table.matches(planned.key),
                ("1013", "Record not found"),
                ("1017", "Object already exists"),
            )
        if target is None:
            return _create(table, otype, planned.values)
        return _update(table.records[target], otype, planned.values)
    except _Skip as skip:
        return skip.result


def _resolve(
    action: str, seen: bool, current: set[Any], not_found: tuple[str, str], exists: tuple[str, str]
) -> Any | None:
    """The id to update, None to create, or a skip."""
    if action == "createOnly":
        if current:
            raise _Skip(*exists)
        return None
    if action == "createOrUpdate" and not seen:
        return None  # looked up before the processing delay: create even if someone just did
    if not current:
        if action == "updateOnly":
            raise _Skip(*not_found)
        return None
    if len(current) > 1:
        raise _Skip("1007", "Multiple records match the lookup criteria")
    return next(iter(current))


def _create(table: Any, otype: ObjectType, values: dict[str, Any]) -> dict[str, Any]:
    if otype.name == "opportunities" and values.get("name") is None:
        raise _Skip("1002", "Missing value for the required parameter 'name'")
    stamp = now_iso()
    record_id = table.new_id()
    record = {otype.id_field: record_id, "createdAt": stamp, "updatedAt": stamp}
    record.update({name: value for name, value in values.items() if value is not None})
    table.insert(record)
    return {otype.id_field: record_id, "status": "created"}


def _update(record: dict[str, Any], otype: ObjectType, values: dict[str, Any]) -> dict[str, Any]:
    if otype.name == "opportunities" and "name" in values and values["name"] is None:
        raise _Skip("1002", "Missing value for the required parameter 'name'")
    for name, value in values.items():
        if not otype.by_name[name].updateable and record.get(name) != value:
            raise _Skip("1003", f"Field '{name}' is not updateable")
    _write(record, values)
    return {otype.id_field: record[otype.id_field], "status": "updated"}


def _write(record: dict[str, Any], values: dict[str, Any]) -> None:
    for name, value in values.items():
        if value is None:
            record.pop(name, None)
        else:
            record[name] = value
    record["updatedAt"] = now_iso()


def _check_references(store: Store, obj: str, values: dict[str, Any]) -> None:
    for name, target, label in REFERENCES.get(obj, ()):
        value = values.get(name)
        if value is None:
            continue
        if target == "leads":
            found = store.leads.get(int(value)) is not None
        else:
            found = bool(store.tables[target].find(name, value))
        if not found:
            raise _Skip("1013", f"{label} '{value}' not found")


# --- Leads -----------------------------------------------------------------------------
def plan_sync_leads(store: Store, body: Any) -> SyncPlan:
    records = input_records(body)
    action = body.get("action") or "createOrUpdate"
    lookup = body.get("lookupField") or "email"
    if action not in LEAD_ACTIONS:
        raise MarketoError("1003", f"Invalid action '{action}'")
    if lookup not in LEADS.searchable_single:
        raise MarketoError("1011", f"Field '{lookup}' not supported")
    plan = SyncPlan("leads", action, [])
    with store.lock:
        for index, raw in enumerate(records):
            planned = Planned(index, lookup=lookup)
            plan.records.append(planned)
            try:
                planned.values = _values(LEADS, raw, frozenset({"id"}))
                _plan_lead_key(planned, action)
            except _Skip as skip:
                planned.outcome = skip.result
                continue
            if planned.key is not None:
                planned.seen = bool(store.leads.find(planned.lookup, planned.key[0]))
    return plan


def _plan_lead_key(planned: Planned, action: str) -> None:
    lead_id = planned.values.pop("id", None)
    if lead_id is not None:
        if action != "updateOnly":
            raise _Skip("1003", "Invalid data: id is allowed with updateOnly only")
        planned.lookup, planned.key = "id", (lead_id,)
        return
    value = planned.values.get(planned.lookup) if planned.lookup != "id" else None
    if isinstance(value, str) and planned.lookup == "email":
        value = value.lower()
    if value is None:
        if action in ("createOrUpdate", "updateOnly"):
            raise _Skip("1002", f"Missing value for the required parameter '{planned.lookup}'")
        return
    planned.key = (value,)


def apply_sync_leads(store: Store, plan: SyncPlan) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    created_here: dict[Key, int] = {}
    with store.lock:
        for planned in plan.records:
            results.append(planned.outcome or _apply_lead(store, plan.action, planned, created_here))
    return results


def _apply_lead(store: Store, action: str, planned: Planned, created_here: dict[Key, int]) -> dict[str, Any]:
    leads = store.leads
    try:
        _check_references(store, "leads", planned.values)
        target: int | None
        if action == "createDuplicate" or planned.key is None:
            target = None
        elif planned.key in created_here and action != "createOnly":
            target = created_here[planned.key]
        else:
            current = set(leads.find(planned.lookup, planned.key[0]))
            if planned.key in created_here:
                current.add(created_here[planned.key])
            target = _resolve(
                action, planned.seen, current, ("1004", "Lead not found"), ("1005", "Lead already exists")
            )
        existing = leads.get(target) if target is not None else None
        _check_company_fields(planned.values, existing)
        if target is None:
            lead_id = leads.new_id()
            stamp = now_iso()
            leads.insert(
                {
                    "id": lead_id,
                    "createdAt": stamp,
                    "updatedAt": stamp,
                    **{k: v for k, v in planned.values.items() if v is not None},
                }
            )
            if planned.key is not None:
                created_here[planned.key] = lead_id
            return {"id": lead_id, "status": "created"}
        record = leads.materialise(target)
        assert record is not None
        values = dict(planned.values)
        if values.get("externalCompanyId", "") is None and record.get("externalCompanyId"):
            del values["externalCompanyId"]  # a lead cannot be unlinked from its company (DEV/companies)
        before = dict(record)
        _write(record, values)
        leads.reindex(record, before)
        return {"id": target, "status": "updated"}
    except _Skip as skip:
        return skip.result


def _check_company_fields(values: dict[str, Any], existing: dict[str, Any] | None) -> None:
    linked = values.get("externalCompanyId") is not None or (
        existing is not None and existing.get("externalCompanyId") is not None
    )
    if linked and any(name in values for name in LEAD_COMPANY_FIELDS):
        raise _Skip("1021", "Company update not allowed during syncLead")


# --- Deletes ---------------------------------------------------------------------------
def delete_objects(store: Store, obj: str, body: Any) -> list[dict[str, Any]]:
    otype = OBJECTS[obj]
    records = input_records(body)
    delete_by = body.get("deleteBy") or "dedupeFields"
    if delete_by not in ("dedupeFields", "idField"):
        raise MarketoError("1003", f"Invalid deleteBy '{delete_by}'")
    results = []
    with store.lock:
        table = store.tables[obj]
        for index, raw in enumerate(records):
            try:
                record_id = _delete_target(table, otype, raw, delete_by)
                if obj == "salespersons":
                    _refuse_in_use(store, table.records[record_id])
                removed = table.remove(record_id)
                assert removed is not None
                _cascade(store, obj, removed)
                results.append({"seq": index, otype.id_field: record_id, "status": "deleted"})
            except _Skip as skip:
                results.append({"seq": index, **skip.result})
    return results


def _delete_target(table: Any, otype: ObjectType, raw: Any, delete_by: str) -> Any:
    if not isinstance(raw, dict):
        raise _Skip("1003", "Invalid data")
    if delete_by == "idField":
        record_id = raw.get(otype.id_field)
        if record_id is None:
            raise _Skip("1002", f"Missing value for the required parameter '{otype.id_field}'")
        if record_id not in table.records:
            raise _Skip("1013", "Record not found")
        return record_id
    try:
        values = {name: normalise(otype.by_name[name], raw.get(name)) for name in otype.dedupe_fields}
    except InvalidValue as error:
        raise _Skip("1001", str(error)) from None
    key = key_of(otype, values)
    ids = table.matches(key) if key is not None else set()
    if key is None:
        raise _Skip("1002", "Missing value for the required parameter 'dedupeFields'")
    if not ids:
        raise _Skip("1013", "Record not found")
    return min(ids, key=str)


def _refuse_in_use(store: Store, person: dict[str, Any]) -> None:
    """A sales person still linked to leads, companies or opportunities is 'in use' (DEV/sales-persons)."""
    owner = person.get("externalSalesPersonId")
    in_use = any(lead.get("externalSalesPersonId") == owner for lead in store.leads.stored.values()) or any(
        record.get("externalSalesPersonId") == owner
        for name in ("companies", "opportunities")
        for record in store.tables[name].records.values()
    )
    if in_use:
        raise _Skip("1022", "Object in use")


def _cascade(store: Store, obj: str, removed: dict[str, Any]) -> None:
    if obj == "opportunities":
        roles = store.tables["roles"]
        for guid in roles.find("externalOpportunityId", removed.get("externalOpportunityId")):
            roles.remove(guid)


def delete_leads(store: Store, ids: list[Any]) -> list[dict[str, Any]]:
    """Delete Leads. A missing id is skipped with 1004 "Lead not found" (decision: the lead-specific code)."""
    results = []
    with store.lock:
        for raw in ids:
            try:
                lead_id = int(raw)
            except (TypeError, ValueError):
                results.append(skipped("1003", "Invalid data"))
                continue
            if store.leads.remove(lead_id) is None:
                results.append(skipped("1004", "Lead not found"))
                continue
            roles = store.tables["roles"]
            for guid in roles.find("leadId", lead_id):
                roles.remove(guid)
            results.append({"id": lead_id, "status": "deleted"})
    return results


def merge_leads(store: Store, winner_id: int, loser_ids: list[int]) -> None:
    """Merge Leads (DEV/leads): the winner keeps its values, takes the losers' where it has none; losers go."""
    if not loser_ids:
        raise MarketoError("701", "leadId cannot be blank")
    if winner_id in loser_ids:
        raise MarketoError("1003", "Invalid data: the winning lead is also a losing lead")
    with store.lock:
        leads = store.leads
        if any(leads.get(lead_id) is None for lead_id in (winner_id, *loser_ids)):
            raise MarketoError("1004", "Lead not found")
        winner = leads.materialise(winner_id)
        assert winner is not None
        before = dict(winner)
        for loser_id in loser_ids:
            loser = leads.remove(loser_id)
            assert loser is not None
            for name, value in loser.items():
                if name not in ("id", "createdAt") and winner.get(name) in (None, "") and value not in (None, ""):
                    winner[name] = value
            _repoint_roles(store, loser_id, winner_id)
        winner["updatedAt"] = now_iso()
        leads.reindex(winner, before)
        store.activities.add(
            winner_id, 32, str(winner_id), [{"name": "Merge IDs", "value": ",".join(map(str, loser_ids))}], time.time()
        )


def _repoint_roles(store: Store, loser_id: int, winner_id: int) -> None:
    roles = store.tables["roles"]
    for guid in roles.find("leadId", loser_id):
        role = roles.remove(guid)
        assert role is not None
        role["leadId"] = winner_id
        if not roles.matches(key_of(roles.otype, role) or ()):
            roles.insert(role)


Pause = Callable[[], None]
