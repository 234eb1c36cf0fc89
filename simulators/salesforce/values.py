"""Field values: how the store keeps them (datetimes as epoch ms) and how the API writes and reads them."""

from __future__ import annotations

import math
import time
from datetime import UTC, date, datetime
from typing import Any

from simulators.salesforce import schema


class BadValue(ValueError):
    """A value that cannot be stored in a field of that type (Salesforce answers JSON_PARSER_ERROR)."""


def format_datetime(ms: int) -> str:
    """Exactly as Salesforce writes dateTime values in JSON: 2024-05-20T20:49:32.000+0000."""
    seconds, millis = divmod(ms, 1000)
    t = time.gmtime(seconds)
    return (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{millis:03d}+0000"
    )


def date_of(ms: int) -> str:
    """The UTC calendar date of an epoch-ms instant, as Salesforce writes dates."""
    t = time.gmtime(ms // 1000)
    return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"


def datetime_to_ms(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return round(value.timestamp() * 1000)


def parse_datetime(text: str) -> int:
    """An ISO 8601 dateTime (Z, +hh:mm or +hhmm; naive means UTC) as epoch milliseconds."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError as error:
        raise BadValue(f"not a dateTime: {text!r}") from error
    return datetime_to_ms(parsed)


def parse_date(text: str) -> str:
    try:
        return date.fromisoformat(text.strip()[:10]).isoformat()
    except ValueError as error:
        raise BadValue(f"not a date: {text!r}") from error


def coerce(field: schema.Field, value: Any) -> Any:
    """Turn a JSON (or Python) value into what the store keeps for `field`, or raise BadValue."""
    if value is None:
        return None
    kind = field.type
    if kind == schema.DATETIME:
        if isinstance(value, datetime):
            return datetime_to_ms(value)
        if isinstance(value, str):
            return parse_datetime(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise BadValue(f"Cannot deserialize instance of dateTime from {type(value).__name__}")
    if kind == schema.DATE:
        if isinstance(value, datetime):
            return value.date().isoformat()
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, str):
            return parse_date(value)
        raise BadValue(f"Cannot deserialize instance of date from {type(value).__name__}")
    if kind == schema.BOOLEAN:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise BadValue(f"Cannot deserialize instance of boolean from {type(value).__name__}")
    if kind in schema.NUMBER_TYPES:
        return _number(kind, value)
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return str(value).lower() if isinstance(value, bool) else str(value)
    raise BadValue(f"Cannot deserialize instance of string from {type(value).__name__}")


def _number(kind: str, value: Any) -> int | float:
    if isinstance(value, bool):
        raise BadValue("Cannot deserialize instance of double from VALUE_TRUE")
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError as error:
            raise BadValue(f"Cannot deserialize instance of double from VALUE_STRING value {value}") from error
    if not isinstance(value, int | float) or (isinstance(value, float) and not math.isfinite(value)):
        raise BadValue(f"Cannot deserialize instance of double from {type(value).__name__}")
    if kind == schema.INT:
        return int(value)
    return float(value)


def render(field: schema.Field, value: Any) -> Any:
    """The JSON value the API returns for a stored value."""
    if value is None:
        return None
    if field.type == schema.DATETIME:
        return format_datetime(value)
    return value
