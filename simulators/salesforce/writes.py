"""The sObject Collections update (PATCH composite/sobjects): per-record checks, allOrNone, assignment rules."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from clients import sfids
from simulators.salesforce import schema
from simulators.salesforce.org import Org, derive
from simulators.salesforce.values import BadValue, coerce

MAX_RECORDS = 200


class RequestError(Exception):
    """The whole request is refused with HTTP 400 and one error (nothing is written)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class CollectionOutcome:
    results: list[dict[str, Any]]
    codes: Counter[str] = field(default_factory=Counter)
    auto_assigned: int = 0


@dataclass
class _Checked:
    index: int
    record_id: str | None
    sobject: str | None
    values: dict[str, Any]
    errors: list[dict[str, Any]]


def _error(code: str, message: str, fields: list[str] | None = None) -> dict[str, Any]:
    return {"statusCode": code, "message": message, "fields": fields or []}


def update_collection(
    org: Org,
    body: Any,
    *,
    user_id: str,
    auto_assign: bool,
    lock_fault: Callable[[], bool],
) -> CollectionOutcome:
    """Validate every record, then write the good ones (or none, under allOrNone)."""
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise RequestError("JSON_PARSER_ERROR", "The request body must be an object with a records array")
    records = body["records"]
    all_or_none = body.get("allOrNone", False)
    if not isinstance(all_or_none, bool):
        raise RequestError("JSON_PARSER_ERROR", "allOrNone must be a boolean")
    if len(records) > MAX_RECORDS:
        raise RequestError(
            "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call"
        )
    with org.lock:
        checked = [_check(org, index, record) for index, record in enumerate(records)]
        for item in checked:
            if not item.errors and lock_fault():
                item.errors.append(_error("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record"))
        failed = any(item.errors for item in checked)
        outcome = CollectionOutcome(results=[])
        for item in checked:
            if item.errors:
                outcome.results.append({"success": False, "errors": item.errors})
                outcome.codes[item.errors[0]["statusCode"]] += 1
            elif all_or_none and failed:
                outcome.results.append(
                    {
                        "success": False,
                        "errors": [
                            _error(
                                "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                                "Record rolled back because not all records were valid and the request "
                                "was using AllOrNone header",
                            )
                        ],
                    }
                )
                outcome.codes["ALL_OR_NONE_OPERATION_ROLLED_BACK"] += 1
            else:
                assert item.record_id is not None and item.sobject is not None
                if _write(org, item, user_id=user_id, auto_assign=auto_assign):
                    outcome.auto_assigned += 1
                outcome.results.append({"id": item.record_id, "success": True, "errors": []})
                outcome.codes["OK"] += 1
        return outcome


def _check(org: Org, index: int, record: Any) -> _Checked:
    item = _Checked(index, None, None, {}, [])
    if not isinstance(record, dict):
        raise RequestError("JSON_PARSER_ERROR", f"records[{index}] is not an object")
    attributes = record.get("attributes")
    type_name = attributes.get("type") if isinstance(attributes, dict) else None
    if not isinstance(type_name, str) or not type_name:
        item.errors.append(_error("INVALID_TYPE", "Must send a concrete entity type."))
        return item
    sobject = schema.sobject(type_name)
    if sobject is None or sobject.name in schema.READ_ONLY_OBJECTS:
        item.errors.append(_error("INVALID_TYPE", f"sObject type '{type_name}' is not supported."))
        return item
    item.sobject = sobject.name
    raw_id = record.get("id", record.get("Id"))
    if not isinstance(raw_id, str) or not raw_id:
        item.errors.append(_error("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"]))
        return item
    try:
        record_id = sfids.to_18(raw_id)
    except sfids.InvalidSalesforceId:
        item.errors.append(_error("MALFORMED_ID", f"malformed id {raw_id}", ["Id"]))
        return item
    if record_id[:3] != sobject.key_prefix:
        item.errors.append(_error("MALFORMED_ID", f"{sobject.name} ID: id value of incorrect type: {raw_id}", ["Id"]))
        return item
    found = org.locate(record_id)
    if found is None:
        item.errors.append(_error("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id"))
        return item
    table, row = found
    item.record_id = record_id
    if "IsDeleted" in table.pos and table.get(row, "IsDeleted"):
        item.errors.append(_error("ENTITY_IS_DELETED", "entity is deleted"))
        return item
    if sobject.name == "Lead" and table.get(row, "IsConverted"):
        item.errors.append(_error("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead"))
        return item
    _check_fields(sobject, record, item)
    return item


def _check_fields(sobject: schema.SObject, record: dict[str, Any], item: _Checked) -> None:
    unknown, readonly = [], []
    for name, value in record.items():
        if name in ("attributes", "id", "Id"):
            continue
        found = sobject.field(name)
        if found is None:
            unknown.append(name)
            continue
        if not found.updateable:
            readonly.append(found.name)
            continue
        try:
            stored = coerce(found, value)
        except BadValue as error:
            raise RequestError("JSON_PARSER_ERROR", f"{error} for field {found.name}") from None
        if stored is None and not found.nillable and found.type != schema.BOOLEAN:
            item.errors.append(
                _error("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{found.name}]", [found.name])
            )
            continue
        if isinstance(stored, str) and found.length and len(stored) > found.length:
            item.errors.append(
                _error(
                    "STRING_TOO_LONG",
                    f"{found.describe()['label']}: data value too large: {stored[:80]} (max length={found.length})",
                    [found.name],
                )
            )
            continue
        if found.type in schema.ID_TYPES and stored is not None and not _valid_reference(found, stored):
            item.errors.append(
                _error(
                    "INVALID_CROSS_REFERENCE_KEY", f"{found.name}: id value of incorrect type: {stored}", [found.name]
                )
            )
            continue
        item.values[found.name] = stored
    if unknown:
        item.errors.insert(
            0, _error("INVALID_FIELD", f"No such column '{unknown[0]}' on sobject of type {sobject.name}", unknown)
        )
    if readonly:
        item.errors.insert(
            0,
            _error(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(readonly)}. Please check the security settings of this "
                "field and verify that it is read/write for your profile or permission set.",
                readonly,
            ),
        )


def _valid_reference(found: schema.Field, value: str) -> bool:
    try:
        prefix = sfids.to_18(value)[:3]
    except sfids.InvalidSalesforceId:
        return False
    return any(schema.OBJECTS[target].key_prefix == prefix for target in found.reference_to)


def _write(org: Org, item: _Checked, *, user_id: str, auto_assign: bool) -> bool:
    """Apply one record's changes; returns True when the assignment rule reassigned a lead."""
    assert item.record_id is not None
    found = org.locate(item.record_id)
    assert found is not None
    table, row = found
    for name, value in item.values.items():
        table.set(row, name, value)
    assigned = False
    if auto_assign and item.sobject == "Lead" and org.assignment_queue_id:
        # The org's active lead assignment rule: REST updates run it unless told not to.
        table.set(row, "OwnerId", org.assignment_queue_id)
        assigned = True
    derive(table, row)
    org.touch(table, row, by=user_id)
    return assigned
