"""What the pipeline needs from the API clients (clients/salesforce.py and clients/marketo.py provide it)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol


class Reason(Protocol):
    @property
    def code(self) -> str: ...

    @property
    def message(self) -> str: ...


class RecordResult(Protocol):
    @property
    def index(self) -> int: ...

    @property
    def status(self) -> str: ...

    @property
    def marketo_id(self) -> str | None: ...

    @property
    def reasons(self) -> Sequence[Reason]: ...

    @property
    def ok(self) -> bool: ...


class QueryPage(Protocol):
    @property
    def records(self) -> list[dict[str, Any]]: ...

    @property
    def next_records_url(self) -> str | None: ...


class SalesforcePort(Protocol):
    def query(self, soql: str, *, include_deleted: bool = False) -> Iterator[QueryPage]: ...

    def query_page(self, next_records_url: str) -> QueryPage: ...


class MarketoPort(Protocol):
    def guard_sends(self, check: Callable[[], None]) -> AbstractContextManager[None]: ...

    def sync(
        self, obj: str, records: Sequence[Mapping[str, Any]], *, action: str = ..., dedupe_by: str = ...
    ) -> Sequence[RecordResult]: ...

    def sync_leads(
        self, records: Sequence[Mapping[str, Any]], *, action: str = ..., lookup_field: str = ...
    ) -> Sequence[RecordResult]: ...

    def delete(
        self, obj: str, keys: Sequence[Mapping[str, Any]], *, delete_by: str = ...
    ) -> Sequence[RecordResult]: ...

    def delete_leads(self, ids: Sequence[int]) -> Sequence[RecordResult]: ...

    def get(
        self, obj: str, filter_type: str, filter_values: Sequence[Any], *, fields: Sequence[str] | None = None
    ) -> Iterator[dict[str, Any]]: ...

    def merge_leads(self, winner_id: int, loser_ids: Sequence[int]) -> Any: ...
