"""Find whose MSI values moved in Marketo's activity log (Interesting Moment, Change Score), paged since last time."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from clients.errors import ConfigurationError
from models.base import utcnow
from models.db import session_scope
from models.operations import WritebackCursor
from pipeline.writeback.people import flag_changed

CURSOR = "activities"
# The activities that mean an MSI value moved, by name (ids differ between instances in principle).
ACTIVITY_TYPES = ("Interesting Moment", "Change Score")


class ActivityPage(Protocol):
    @property
    def activities(self) -> list[dict[str, Any]]: ...

    @property
    def next_page_token(self) -> str: ...

    @property
    def more_result(self) -> bool: ...


class ActivityPort(Protocol):
    def activity_types(self) -> list[dict[str, Any]]: ...

    def paging_token(self, since: datetime) -> str: ...

    def activities(self, type_ids: Sequence[int], next_page_token: str) -> ActivityPage: ...


@dataclass
class Scan:
    """What one scan did: Marketo calls, activity pages and activities read, people flagged."""

    calls: int = 0
    pages: int = 0
    activities: int = 0
    flagged: int = 0
    caught_up: bool = False


def scan(
    database_url: str,
    marketo: ActivityPort,
    max_calls: int,
    *,
    in_transaction: Callable[[Session], None] = lambda session: None,
) -> Scan:
    """Page activities from the stored token, flagging people, until caught up or `max_calls` are spent.

    Each page is committed with the token after it (and `in_transaction`, where the caller renews
    its lease and counts the call), so a retry goes on from there instead of paging again.
    """
    done = Scan()
    with session_scope(database_url) as session:
        cursor = session.get(WritebackCursor, CURSOR)
        token = cursor.next_page_token if cursor else None
        type_ids = [int(i) for i in (cursor.type_ids or {}).get("ids", [])] if cursor else []
    if not type_ids and done.calls < max_calls:
        type_ids = _resolve(marketo.activity_types())
        done.calls += 1
        _save(database_url, type_ids=type_ids, in_transaction=in_transaction)
    if token is None and done.calls < max_calls:
        # The first pass reads everyone anyway (never read comes first): activities start now.
        token = marketo.paging_token(utcnow())
        done.calls += 1
        _save(database_url, token=token, in_transaction=in_transaction)
    while token is not None and done.calls < max_calls:
        page = marketo.activities(type_ids, token)
        done.calls += 1
        done.pages += 1
        done.activities += len(page.activities)
        token = page.next_page_token
        with session_scope(database_url) as session:
            done.flagged += flag_changed(session, (a["leadId"] for a in page.activities if a.get("leadId")))
            _store(session, token=token)
            in_transaction(session)
        if not page.more_result:
            done.caught_up = True
            break
    return done


def _resolve(types: list[dict[str, Any]]) -> list[int]:
    by_name = {str(t.get("name")): int(t["id"]) for t in types if t.get("id") is not None}
    missing = [name for name in ACTIVITY_TYPES if name not in by_name]
    if missing:
        raise ConfigurationError(
            f"Marketo has no activity type {', '.join(missing)}: is Marketo Sales Insight enabled for this instance?"
        )
    return [by_name[name] for name in ACTIVITY_TYPES]


def _save(database_url: str, *, in_transaction: Callable[[Session], None], **values: Any) -> None:
    with session_scope(database_url) as session:
        _store(session, **values)
        in_transaction(session)


def _store(session: Session, *, token: str | None = None, type_ids: list[int] | None = None) -> None:
    cursor = session.get(WritebackCursor, CURSOR)
    if cursor is None:
        cursor = WritebackCursor(name=CURSOR)
        session.add(cursor)
    if token is not None:
        cursor.next_page_token = token
    if type_ids is not None:
        cursor.type_ids = {"ids": type_ids}
    cursor.updated_at = utcnow()
