"""Salesforce-shaped records for pipeline tests (ids with valid checksums)."""

from __future__ import annotations

import itertools
from typing import Any

from clients.sfids import checksum

_counter = itertools.count(1)


def sf_id(prefix: str) -> str:
    body = f"{prefix}{next(_counter):012d}"
    return body + checksum(body)


def stamp(second: int) -> str:
    return f"2026-01-01T00:{second // 60:02d}:{second % 60:02d}.000+0000"


def user(**fields: Any) -> dict[str, Any]:
    record = {
        "Id": sf_id("005"),
        "Email": "ann@example.com",
        "FirstName": "Ann",
        "LastName": "Lee",
        "UserType": "Standard",
        "IsActive": True,
        "SystemModstamp": stamp(1),
    }
    return record | fields


def account(owner: str, **fields: Any) -> dict[str, Any]:
    record = {
        "Id": sf_id("001"),
        "Name": "Acme",
        "OwnerId": owner,
        "IsDeleted": False,
        "MasterRecordId": None,
        "SystemModstamp": stamp(2),
    }
    return record | fields


def lead(owner: str, **fields: Any) -> dict[str, Any]:
    record = {
        "Id": sf_id("00Q"),
        "OwnerId": owner,
        "Email": "bo@example.com",
        "LastName": "Bo",
        "Company": "Bo Inc",
        "IsDeleted": False,
        "IsConverted": False,
        "ConvertedContactId": None,
        "MasterRecordId": None,
        "SystemModstamp": stamp(3),
    }
    return record | fields


def contact(owner: str, account_id: str | None, **fields: Any) -> dict[str, Any]:
    record = {
        "Id": sf_id("003"),
        "OwnerId": owner,
        "AccountId": account_id,
        "Email": "cy@example.com",
        "LastName": "Cy",
        "IsDeleted": False,
        "MasterRecordId": None,
        "SystemModstamp": stamp(4),
    }
    return record | fields
