"""Checks and normalises one field value against its Marketo data type.

A value of the wrong type is skipped with 1001 "Invalid value '%s'. Required of type '%s'"
(DEV/error-codes). Decisions (the docs are silent): a string longer than the field's length and
an email with non-ASCII characters (DEV/leads: emails must be ASCII) are also 1001, with the
type written as e.g. ``string(50)`` or ``email (ASCII)``. ``null`` and ``""`` write null.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from simulators.marketo.schema import Field

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class InvalidValue(Exception):
    def __init__(self, value: Any, required: str) -> None:
        super().__init__(f"Invalid value '{value}'. Required of type '{required}'")


def now_iso(at: float | None = None) -> str:
    moment = datetime.now(UTC) if at is None else datetime.fromtimestamp(at, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def normalise(field: Field, value: Any) -> Any:
    """The value to store for `field`, or InvalidValue."""
    if value is None or value == "":
        return None
    kind = field.data_type
    if kind in ("string", "email", "url", "phone", "text"):
        return _text(field, value)
    if kind == "integer":
        return _integer(value)
    if kind in ("currency", "float"):
        return _number(value)
    if kind == "boolean":
        return _boolean(value)
    if kind == "date":
        if isinstance(value, str) and _DATE.match(value[:10]):
            return value[:10]
        raise InvalidValue(value, "date")
    if kind == "datetime":
        return _datetime(value)
    return value


def _text(field: Field, value: Any) -> str:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise InvalidValue(value, "string")
    text = str(value)
    if field.data_type == "email" and not text.isascii():
        raise InvalidValue(text, "email (ASCII)")
    if field.length is not None and len(text) > field.length:
        raise InvalidValue(text[:40] + "...", f"string({field.length})")
    return text


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise InvalidValue(value, "integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise InvalidValue(value, "integer")


def _number(value: Any) -> float:
    if isinstance(value, bool):
        raise InvalidValue(value, "currency")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InvalidValue(value, "currency") from None


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise InvalidValue(value, "boolean")


def _datetime(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidValue(value, "datetime")
    try:
        moment = datetime.fromisoformat(value if "T" in value else value + "T00:00:00+00:00")
    except ValueError:
        raise InvalidValue(value, "datetime") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
