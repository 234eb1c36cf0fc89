"""Turn a Marketo value into what a Salesforce field of a given type takes; find what changed since the last write."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.writeback.fields import FieldSpec

TEXT_TYPES = frozenset({"string", "textarea", "picklist", "multipicklist", "email", "phone", "url", "combobox"})
NUMBER_TYPES = frozenset({"double", "currency", "percent"})
SUPPORTED_TYPES = TEXT_TYPES | NUMBER_TYPES | frozenset({"int", "datetime", "date", "boolean"})


class Unconvertible(ValueError):
    """The value does not fit the field (a date that is not a date, a score that is not a number)."""


def to_salesforce(spec: FieldSpec, value: Any) -> Any:
    """The JSON value to write into a field of `spec`; None stays None (Marketo leaves out empty fields)."""
    if value is None or value == "":
        return None
    kind = spec.type
    if kind == "datetime":
        # Salesforce takes yyyy-MM-ddTHH:mm:ss.SSSZ; one fixed form also makes comparisons exact.
        moment = _instant(value)
        return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"
    if kind == "date":
        return _instant(value).date().isoformat() if "T" in str(value) else _date(value)
    if kind in NUMBER_TYPES or kind == "int":
        number = _number(value)
        return round(number) if kind == "int" else number
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "false"):
            return str(value).lower() == "true"
        raise Unconvertible(f"{value!r} is not true or false")
    text = str(value)
    return text[: spec.length] if spec.length and len(text) > spec.length else text


def changes(new: dict[str, Any], written: dict[str, Any] | None) -> dict[str, Any]:
    """The fields of `new` that differ from what was last written.

    A field never written before is only written when it has a value: the record may hold one
    from before the write-back existed, and an empty Marketo field is no reason to erase it.
    """
    before = written or {}
    return {
        name: value
        for name, value in new.items()
        if (name in before and before[name] != value) or (name not in before and value is not None)
    }


def _instant(value: Any) -> datetime:
    text = str(value).strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Unconvertible(f"{text!r} is not a date/time") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _date(value: Any) -> str:
    try:
        return date.fromisoformat(str(value).strip()[:10]).isoformat()
    except ValueError:
        raise Unconvertible(f"{value!r} is not a date") from None


def _number(value: Any) -> float:
    if isinstance(value, bool):
        raise Unconvertible(f"{value!r} is not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise Unconvertible(f"{value!r} is not a number") from None
    if not math.isfinite(number):
        raise Unconvertible(f"{value!r} is not a finite number")
    return number
