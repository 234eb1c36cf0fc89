"""Salesforce record ids: validation and 15 -> 18 character normalisation, used at the client boundary."""

from __future__ import annotations

import re

_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID_PATTERN = re.compile(r"[a-zA-Z0-9]{15}(?:[A-Z0-5]{3})?")

# Key prefixes the service cares about (case-sensitive: 00K is a contact role, 00k is not).
PREFIX_USER = "005"
PREFIX_QUEUE = "00G"
PREFIX_ACCOUNT = "001"
PREFIX_CONTACT = "003"
PREFIX_LEAD = "00Q"
PREFIX_OPPORTUNITY = "006"
PREFIX_CONTACT_ROLE = "00K"
PREFIX_ORGANIZATION = "00D"


class InvalidSalesforceId(ValueError):
    """The value is not a 15- or 18-character Salesforce id (or its checksum is wrong)."""


def checksum(id15: str) -> str:
    """The three characters Salesforce appends to make a 15-character id case-insensitive."""
    suffix = []
    for start in (0, 5, 10):
        bits = 0
        for offset, char in enumerate(id15[start : start + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << offset
        suffix.append(_SUFFIX_ALPHABET[bits])
    return "".join(suffix)


def to_18(value: str) -> str:
    """Return the 18-character form of a Salesforce id, validating it on the way.

    A 15-character id is case-sensitive and gets its checksum appended. An 18-character id
    keeps its case information in the checksum, so a lower-cased copy is repaired, and one
    whose checksum does not match its first 15 characters is refused.
    """
    if not isinstance(value, str) or not _ID_PATTERN.fullmatch(value.strip()):
        if isinstance(value, str) and len(value) == 18 and value.isalnum():
            return _repair_case(value)
        raise InvalidSalesforceId(f"not a Salesforce id: {value!r}")
    value = value.strip()
    if len(value) == 15:
        return value + checksum(value)
    if checksum(value[:15]) != value[15:]:
        return _repair_case(value)
    return value


def _repair_case(value: str) -> str:
    """Rebuild the case of an 18-character id whose letters were folded, from its checksum.

    Only an id folded to one case is repaired; mixed case with a wrong checksum is corrupt.
    """
    body = value[:15]
    if body != body.lower() and body != body.upper():
        raise InvalidSalesforceId(f"checksum does not match: {value!r}")
    suffix = value[15:].upper()
    if any(char not in _SUFFIX_ALPHABET for char in suffix):
        raise InvalidSalesforceId(f"not a Salesforce id: {value!r}")
    chars = list(value[:15].lower())
    for chunk, code in enumerate(suffix):
        bits = _SUFFIX_ALPHABET.index(code)
        for offset in range(5):
            if bits & (1 << offset):
                position = chunk * 5 + offset
                if not chars[position].isalpha():
                    raise InvalidSalesforceId(f"checksum does not match: {value!r}")
                chars[position] = chars[position].upper()
    repaired = "".join(chars)
    if checksum(repaired) != suffix:
        raise InvalidSalesforceId(f"checksum does not match: {value!r}")
    return repaired + suffix


def to_18_or_none(value: str | None) -> str | None:
    """Like to_18, but passes None (and empty strings) through as None."""
    if value is None or value == "":
        return None
    return to_18(value)


def is_valid(value: object) -> bool:
    try:
        to_18(value)  # type: ignore[arg-type]
    except InvalidSalesforceId:
        return False
    return True


def prefix(value: str) -> str:
    return value[:3]
