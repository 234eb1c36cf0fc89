"""What the pipeline needs from the API clients (clients/salesforce.py and clients/marketo.py provide it)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol


class Reason(Protocol):
    code: str
    message: str


class RecordResult(Protocol):
    index: int
    status: str
    marketo_id: str | None
    reasons: Sequence[Reason]

    @property
    def ok(self) -> bool: ...


class QueryPage(Protocol):
    records: list[dict[str, Any]]
    next_records_url: str | None


class SalesforcePort(Protocol):
    def query(self, soql: str, *, include_deleted: bool = False) -> Iterator[QueryPage]: ...

    def query_page(self, next_records_url: str) -> QueryPage: ...


class MarketoPort(Protocol):
    def sync(
        self, obj: str, records: list[dict[str, Any]], *, action: str = ..., dedupe_by: str = ...
    ) -> list[RecordResult]: ...

    def sync_leads(
        self, records: list[dict[str, Any]], *, action: str = ..., lookup_field: str = ...
    ) -> list[RecordResult]: ...

    def delete(self, obj: str, keys: list[dict[str, Any]], *, delete_by: str = ...) -> list[RecordResult]: ...

    def delete_leads(self, ids: list[int]) -> list[RecordResult]: ...

    def get(
        self, obj: str, filter_type: str, filter_values: list[str], *, fields: list[str] | None = None
    ) -> Iterator[dict[str, Any]]: ...

    def merge_leads(self, winner_id: int, loser_ids: list[int]) -> Any: ...
