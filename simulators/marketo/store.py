"""The simulated instance's records: one table per object, lead indexes, seeded leads, MSI state.

Tables only hold and index records; what a sync, delete, query or merge means lives in
``writes.py`` and ``queries.py``. Every access happens under ``Store.lock``.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Iterator
from typing import Any

from simulators.marketo.generator import GeneratedLeads, generate
from simulators.marketo.msi import ActivityLog, MsiEngine
from simulators.marketo.schema import (
    COMPANIES,
    LEAD_COMPANY_FIELDS,
    LEADS,
    OPPORTUNITIES,
    ROLES,
    SALES_PERSONS,
    ObjectType,
)

Key = tuple[Any, ...]


def key_of(otype: ObjectType, record: dict[str, Any]) -> Key | None:
    """The record's dedupe key, or None when a part of it is missing."""
    parts = tuple(record.get(name) for name in otype.dedupe_fields)
    return None if any(part is None or part == "" for part in parts) else parts


class Table:
    """Records of a non-lead object by id, with an index on the dedupe key (duplicates allowed)."""

    def __init__(self, otype: ObjectType) -> None:
        self.otype = otype
        self.records: dict[Any, dict[str, Any]] = {}
        self.by_key: dict[Key, set[Any]] = {}
        self._ids = itertools.count(1001)

    def new_id(self) -> Any:
        if self.otype.id_field == "marketoGUID":
            return str(uuid.uuid4())
        return next(self._ids)

    def matches(self, key: Key) -> set[Any]:
        return set(self.by_key.get(key, ()))

    def insert(self, record: dict[str, Any]) -> None:
        self.records[record[self.otype.id_field]] = record
        key = key_of(self.otype, record)
        if key is not None:
            self.by_key.setdefault(key, set()).add(record[self.otype.id_field])

    def remove(self, record_id: Any) -> dict[str, Any] | None:
        record = self.records.pop(record_id, None)
        if record is not None:
            key = key_of(self.otype, record)
            ids = self.by_key.get(key) if key is not None else None
            if ids is not None:
                ids.discard(record_id)
                if not ids:
                    del self.by_key[key]  # type: ignore[arg-type]
        return record

    def find(self, field: str, value: Any) -> list[Any]:
        """Ids whose `field` equals `value` (dedupe key via the index, anything else by scan)."""
        if field == self.otype.id_field:
            return [value] if value in self.records else []
        if self.otype.dedupe_fields == (field,):
            return sorted(self.by_key.get((value,), ()), key=str)
        return [rid for rid, record in self.records.items() if record.get(field) == value]

    def __len__(self) -> int:
        return len(self.records)


class LeadTable:
    """Leads: the seeded ones (derived on read) plus those the API created or changed."""

    def __init__(self, generated: GeneratedLeads) -> None:
        self.generated = generated
        self.stored: dict[int, dict[str, Any]] = {}
        self.taken: set[int] = set()  # seeded ids now stored or deleted
        self.by_email: dict[str, set[int]] = {}
        self.by_person: dict[str, set[int]] = {}
        self._ids = itertools.count(generated.size + 1)

    def new_id(self) -> int:
        return next(self._ids)

    def get(self, lead_id: int) -> dict[str, Any] | None:
        record = self.stored.get(lead_id)
        if record is not None or lead_id in self.taken:
            return record
        return self.generated.get(lead_id)

    def materialise(self, lead_id: int) -> dict[str, Any] | None:
        """The stored (writable) copy of a lead, copying a seeded one into the store first."""
        record = self.stored.get(lead_id)
        if record is None and lead_id not in self.taken:
            seeded = self.generated.get(lead_id)
            if seeded is not None:
                self.taken.add(lead_id)
                self.insert(seeded)
                record = seeded
        return record

    def insert(self, record: dict[str, Any]) -> None:
        self.stored[record["id"]] = record
        self._index(record, add=True)

    def reindex(self, record: dict[str, Any], before: dict[str, Any]) -> None:
        self._index(before, add=False)
        self._index(record, add=True)

    def remove(self, lead_id: int) -> dict[str, Any] | None:
        record = self.materialise(lead_id)
        if record is not None:
            del self.stored[lead_id]
            self._index(record, add=False)
        return record

    def _index(self, record: dict[str, Any], *, add: bool) -> None:
        pairs = ((self.by_email, _lower(record.get("email"))), (self.by_person, record.get("externalPersonId")))
        for index, value in pairs:
            if value is None:
                continue
            if add:
                index.setdefault(value, set()).add(record["id"])
            else:
                ids = index.get(value)
                if ids is not None:
                    ids.discard(record["id"])
                    if not ids:
                        del index[value]

    def find(self, field: str, value: Any) -> list[int]:
        """Ids of the leads whose searchable `field` equals `value` (email case-insensitively)."""
        if field == "id":
            try:
                lead_id = int(value)
            except (TypeError, ValueError):
                return []
            return [lead_id] if self.get(lead_id) is not None else []
        if field == "email":
            email = _lower(value)
            if email is None:
                return []
            ids = set(self.by_email.get(email, ()))
            seeded = self.generated.find_email(email)
            if seeded is not None and seeded not in self.taken:
                ids.add(seeded)
            return sorted(ids)
        if field == "externalPersonId":
            return sorted(self.by_person.get(value, ()))
        return []

    def ids(self) -> Iterator[int]:
        """Every lead id in ascending order."""
        for lead_id in range(1, self.generated.size + 1):
            if lead_id in self.stored or lead_id not in self.taken:
                yield lead_id
        yield from sorted(i for i in self.stored if i > self.generated.size)

    def synced_ids(self) -> list[int]:
        """Leads written by a CRM sync (they carry externalPersonId), ascending."""
        return sorted(itertools.chain.from_iterable(self.by_person.values()))

    def __len__(self) -> int:
        return len(self.stored) + self.generated.size - len(self.taken)


def _lower(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) and value else None


class Store:
    """Everything one simulated Marketo instance holds. Use `with store.lock:` around access."""

    def __init__(self, seed: int = 0, size: int = 0, msi_fraction: float = 0.1, nightly_every: int = 4) -> None:
        self.lock = threading.RLock()
        self.seed = seed
        self.size = size
        self._msi_options = (msi_fraction, nightly_every)
        self._fresh()

    def _fresh(self) -> None:
        self.tables: dict[str, Table] = {t.name: Table(t) for t in (SALES_PERSONS, COMPANIES, OPPORTUNITIES, ROLES)}
        self.leads = LeadTable(generate(self.seed, self.size))
        self.activities = ActivityLog()
        fraction, nightly = self._msi_options
        self.msi = MsiEngine(self.seed, self.leads, self.activities, fraction=fraction, nightly_every=nightly)

    def reset(self) -> None:
        with self.lock:
            self._fresh()

    def advance_msi(self, epochs: int = 1) -> dict[str, int]:
        """Run `epochs` MSI epochs now (interesting moments, score changes, nightly recompute)."""
        with self.lock:
            return self.msi.advance(epochs)

    def lead_view(self, record: dict[str, Any]) -> dict[str, Any]:
        """A lead as the API shows it: a linked company's values replace the lead's own."""
        company_id = record.get("externalCompanyId")
        if company_id is None:
            return record
        ids = self.tables["companies"].find("externalCompanyId", company_id)
        if not ids:
            return record
        company = self.tables["companies"].records[ids[0]]
        return {**record, **{name: company.get(name) for name in LEAD_COMPANY_FIELDS}}

    def counts(self) -> dict[str, int]:
        with self.lock:
            out = {name: len(table) for name, table in self.tables.items()}
            out["leads"] = len(self.leads)
            out["leads_synced"] = len(self.leads.by_person)
            out["activities"] = len(self.activities)
            out["msi_epoch"] = self.msi.epoch
            return out

    def records(self, obj: str) -> Iterator[dict[str, Any]]:
        """Every record of `obj` in id order (for the control API)."""
        if obj == "leads":
            for lead_id in self.leads.ids():
                lead = self.leads.get(lead_id)
                if lead is not None:
                    yield self.lead_view(lead)
            return
        table = self.tables[obj]
        for record_id in sorted(table.records, key=str):
            yield table.records[record_id]


OBJECT_NAMES = ("salespersons", "companies", "leads", "opportunities", "roles")
LEAD_TYPE = LEADS
