"""The SOQL a cycle runs, built with simple-salesforce's quoting, never by pasting values."""

from __future__ import annotations

import re
from datetime import datetime

from simple_salesforce.format import format_soql

from pipeline import objects as o

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def _checked(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"not a Salesforce field or object name: {name!r}")
    return name


def extract_query(sobject: str, fields: list[str], since: datetime | None) -> str:
    """Every record of `sobject` changed at or after `since` (all when None), oldest change first.

    Ordered by SystemModstamp then Id, so the highest SystemModstamp read is a safe resume
    point and the next watermark.
    """
    columns = ", ".join(_checked(field) for field in fields)
    soql = f"SELECT {columns} FROM {_checked(sobject)}"  # noqa: S608 - identifiers checked above, no values
    if since is not None:
        soql += format_soql(" WHERE SystemModstamp >= {}", since)
    return soql + " ORDER BY SystemModstamp ASC, Id ASC"


def reads_deleted(sobject: str) -> bool:
    """queryAll for objects that can be deleted, so deletions reach Marketo too."""
    return sobject != o.USER
