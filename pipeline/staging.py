"""Turn a page of Salesforce records into staged Marketo writes, skipping what Marketo already has."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, String, bindparam, func, select, true, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, aliased

from models.base import utcnow
from models.records import FAILURE_OPEN, KIND_ERROR, KIND_WARNING, Failure, IdMap
from models.runs import CHUNK_READY, Chunk, StagedRecord
from models.upsert import insert_for
from pipeline import objects as o
from pipeline.failures import FailedRecord, record_failures, resolve_failures, resolve_warnings
from pipeline.fingerprint import fingerprint
from pipeline.mapping import MappingConfig, Rejected, parse_sf_datetime, payload_for


@dataclass
class PageResult:
    """What one page did: every extracted record ends up staged, unchanged or invalid."""

    extracted: int = 0
    staged: int = 0
    unchanged: int = 0
    invalid: int = 0
    max_modstamp: datetime | None = None
    touched: set[tuple[str, str]] = field(default_factory=set)


@dataclass
class _Stage:
    step: str
    lookup: str
    payload: dict[str, Any]


def load_id_map(session: Session, object_type: str, sf_ids: Iterable[str]) -> dict[str, IdMap]:
    wanted = sorted({sf_id for sf_id in sf_ids if sf_id})
    found: dict[str, IdMap] = {}
    for start in range(0, len(wanted), 500):
        rows = session.scalars(_id_map_rows(session, object_type, wanted[start : start + 500]))
        found.update({row.sf_id: row for row in rows})
    return found


def _id_map_rows(session: Session, object_type: str, sf_ids: list[str]) -> Select[IdMap]:
    """The id-map rows of these ids; on PostgreSQL one probe of the unique index per id.

    As `sf_id IN (...)`, PostgreSQL weighs the list against the table's statistics. A first
    full sync fills the id map from empty, before any ANALYZE: without statistics the planner
    scans every row of the object type for each lookup, and the lookups slow down with every
    record sent. A LATERAL probe of the unique key (LIMIT 1: at most one row there anyway)
    is an index lookup whatever the statistics say, as long as it is planned for the table
    as it is now (models.db: no generic plans). SQLite picks the unique index for IN.
    """
    if session.get_bind().dialect.name != "postgresql":
        return select(IdMap).where(IdMap.object_type == object_type, IdMap.sf_id.in_(sf_ids))
    wanted = func.unnest(bindparam("sf_ids", sf_ids, type_=ARRAY(String))).table_valued("sf_id")
    wanted = wanted.render_derived(name="wanted")
    probe = (
        select(IdMap).where(IdMap.object_type == object_type, IdMap.sf_id == wanted.c.sf_id).limit(1).lateral("probe")
    )
    return select(aliased(IdMap, probe)).select_from(wanted).join(probe, true())


def _is_live(row: IdMap | None) -> bool:
    """The record is in Marketo as far as we know."""
    return row is not None and row.marketo_id is not None and row.deleted_at is None and row.merged_into is None


class PageStager:
    """Stages the records of one Salesforce object for one run."""

    def __init__(self, session: Session, run_id: int, config: MappingConfig, delete_people: bool) -> None:
        self.session = session
        self.run_id = run_id
        self.config = config
        self.delete_people = delete_people

    def stage(self, sobject: str, records: list[dict[str, Any]]) -> PageResult:
        object_type = o.OBJECT_TYPE_OF[sobject]
        related = [r["Id"] for r in records]
        related += [r.get("ConvertedContactId") or "" for r in records]
        related += [r.get("MasterRecordId") or "" for r in records]
        known = load_id_map(self.session, object_type, related)
        result = PageResult()
        rows: list[dict[str, Any]] = []
        failed: list[FailedRecord] = []
        warned: list[FailedRecord] = []
        clean: list[str] = []
        moot: list[str] = []
        for record in records:
            result.extracted += 1
            modstamp = parse_sf_datetime(record.get("SystemModstamp"))
            if modstamp and (result.max_modstamp is None or modstamp > result.max_modstamp):
                result.max_modstamp = modstamp
            warnings_before = len(warned)
            try:
                stage = self._decide(sobject, object_type, record, known, warned, moot)
            except Rejected as rejected:
                result.invalid += 1
                failed.append(
                    FailedRecord(
                        object_type,
                        record["Id"],
                        sobject,
                        o.upsert_step(object_type).name,
                        rejected.issue.code,
                        rejected.issue.message,
                    )
                )
                continue
            if stage is None:
                result.unchanged += 1
                continue
            result.staged += 1
            result.touched.add((stage.step, stage.lookup))
            if stage.step.endswith(":upsert") and len(warned) == warnings_before:
                clean.append(record["Id"])
            rows.append(
                {
                    "run_id": self.run_id,
                    "step": stage.step,
                    "lookup": stage.lookup,
                    "sf_id": record["Id"],
                    "sobject": sobject,
                    "payload": stage.payload,
                    "fingerprint": fingerprint(stage.payload),
                    "modstamp": modstamp,
                }
            )
        self._insert(rows)
        record_failures(self.session, self.run_id, failed)
        record_failures(self.session, self.run_id, warned)
        resolve_warnings(self.session, object_type, clean)
        # Deleted, merged and converted records have nothing left to fix: close their errors and warnings.
        resolve_failures(self.session, object_type, moot)
        resolve_warnings(self.session, object_type, moot)
        return result

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            # A page read again after a crash stages nothing twice. Core, not ORM: a page is
            # thousands of rows and the ORM's bookkeeping would cost more than the insert.
            statement = insert_for(self.session, StagedRecord.__table__).on_conflict_do_nothing(
                index_elements=["run_id", "step", "sf_id"]
            )
            self.session.connection().execute(statement, rows)

    def _decide(
        self,
        sobject: str,
        object_type: str,
        record: dict[str, Any],
        known: dict[str, IdMap],
        warned: list[FailedRecord],
        moot: list[str],
    ) -> _Stage | None:
        sf_id = record["Id"]
        mine = known.get(sf_id)
        if record.get("IsDeleted"):
            moot.append(sf_id)
            return self._deleted(sobject, object_type, record, known)
        if sobject == o.USER and record.get("UserType") != "Standard":
            self._exclude_user(record, mine)
            return None
        if sobject == o.LEAD and record.get("IsConverted"):
            moot.append(sf_id)
            return self._converted(record, known)
        payload = payload_for(sobject, record, self.config)
        if payload.warnings:
            # The failures table keeps one warning per record: it names the first problem's code
            # and every dropped or changed value, so none of them is lost to the others.
            warned.append(
                FailedRecord(
                    object_type,
                    sf_id,
                    sobject,
                    o.upsert_step(object_type).name,
                    payload.warnings[0].code,
                    "; ".join(issue.message for issue in payload.warnings),
                    kind=KIND_WARNING,
                )
            )
        values = payload.values
        if mine is not None and mine.fingerprint == fingerprint(values) and not mine.relink and _is_live(mine):
            return None
        lookup = o.BY_MARKETO_ID if (mine is not None and mine.relink) else o.BY_EXTERNAL_ID
        return _Stage(o.upsert_step(object_type).name, lookup, values)

    def _exclude_user(self, record: dict[str, Any], mine: IdMap | None) -> None:
        """Automated and portal users are not sales people: records they own link to no one."""
        if mine is None:
            self.session.add(
                IdMap(
                    object_type=o.SALESPERSONS,
                    sf_id=record["Id"],
                    sobject=o.USER,
                    key={"excluded": str(record.get("UserType"))},
                    run_id=self.run_id,
                )
            )
        elif not (mine.key or {}).get("excluded"):
            mine.key = {"excluded": str(record.get("UserType"))}

    def _deleted(
        self, sobject: str, object_type: str, record: dict[str, Any], known: dict[str, IdMap]
    ) -> _Stage | None:
        sf_id = record["Id"]
        mine = known.get(sf_id)
        if mine is None and object_type == o.LEADS:
            # Remember people deleted before they were ever sent: a role pointing at one is
            # then refused from the id map, without asking Marketo for a lead that is not there.
            gone = IdMap(object_type=o.LEADS, sf_id=sf_id, sobject=sobject, deleted_at=utcnow(), run_id=self.run_id)
            self.session.add(gone)
            known[sf_id] = gone
            return None
        if not _is_live(mine):
            return None
        assert mine is not None
        master = record.get("MasterRecordId")
        if object_type == o.LEADS:
            if master:
                return _Stage("leads:merge", o.MERGE, {"loser": sf_id, "winner": master})
            if not self.delete_people:
                # Kept in Marketo by choice; the write-back must stop writing to it.
                mine.deleted_at = utcnow()
                return None
            return _Stage("leads:delete", o.DELETE, {"id": mine.marketo_id})
        if object_type == o.COMPANIES:
            return _Stage("companies:delete", o.DELETE, {"externalCompanyId": sf_id})
        if object_type == o.OPPORTUNITIES:
            return _Stage("opportunities:delete", o.DELETE, {"externalOpportunityId": sf_id})
        if object_type == o.ROLES and mine.key:
            return _Stage("roles:delete", o.DELETE, dict(mine.key))
        return None

    def _converted(self, record: dict[str, Any], known: dict[str, IdMap]) -> _Stage | None:
        """A converted Lead lives on as its Contact: one person, one Marketo lead."""
        sf_id, contact_id = record["Id"], record.get("ConvertedContactId")
        mine = known.get(sf_id)
        if not contact_id or not _is_live(mine):
            return None
        assert mine is not None
        contact = known.get(contact_id)
        if contact is None:
            # The Contact takes over the Lead's Marketo record: its first write goes by
            # Marketo id and sets externalPersonId to the Contact's id.
            contact = IdMap(
                object_type=o.LEADS,
                sf_id=contact_id,
                sobject=o.CONTACT,
                marketo_id=mine.marketo_id,
                relink=True,
                run_id=self.run_id,
            )
            self.session.add(contact)
            known[contact_id] = contact
            mine.merged_into = contact_id
            return None
        if contact.marketo_id == mine.marketo_id:
            mine.merged_into = contact_id
            return None
        if contact.marketo_id is None:
            contact.marketo_id, contact.relink = mine.marketo_id, True
            mine.merged_into = contact_id
            return None
        return _Stage("leads:merge", o.MERGE, {"loser": sf_id, "winner": contact_id})


def restage_open_failures(session: Session, run_id: int, sobject: str) -> int:
    """Put last cycles' failed records of `sobject` back in this run, unless already staged."""
    failures = session.scalars(
        select(Failure).where(
            Failure.status == FAILURE_OPEN,
            Failure.kind == KIND_ERROR,
            Failure.sobject == sobject,
            Failure.payload.is_not(None),
        )
    ).all()
    if not failures:
        return 0
    relinks = {
        row.sf_id
        for row in load_id_map(session, o.LEADS, [f.sf_id for f in failures if f.step == "leads:upsert"]).values()
        if row.relink
    }
    rows = []
    for failure in failures:
        if not failure.payload:
            continue
        lookup = failure.lookup or o.BY_EXTERNAL_ID
        if failure.step == "leads:upsert":
            lookup = o.BY_MARKETO_ID if failure.sf_id in relinks else o.BY_EXTERNAL_ID
        rows.append(
            {
                "run_id": run_id,
                "step": failure.step,
                "lookup": lookup,
                "sf_id": failure.sf_id,
                "sobject": failure.sobject,
                "payload": failure.payload,
                "fingerprint": fingerprint(failure.payload or {}),
                "modstamp": None,
            }
        )
    statement = insert_for(session, StagedRecord).on_conflict_do_nothing(index_elements=["run_id", "step", "sf_id"])
    session.execute(statement, rows)
    return len(rows)


def form_chunks(session: Session, run_id: int, step: str, lookup: str, *, final: bool) -> list[int]:
    """Group unchunked staged records of a step into chunks of the step's call size.

    Only full chunks are formed until `final`; then the remainder forms one last chunk. Full
    chunks are what keeps the number of Marketo calls at its minimum, ceil(n / 300).
    """
    size = o.STEP_BY_NAME[step].records_per_call
    formed: list[int] = []
    seq = session.scalar(select(func.count()).select_from(Chunk).where(Chunk.run_id == run_id, Chunk.step == step))
    while True:
        ids = list(
            session.scalars(
                select(StagedRecord.id)
                .where(
                    StagedRecord.run_id == run_id,
                    StagedRecord.step == step,
                    StagedRecord.lookup == lookup,
                    StagedRecord.chunk_id.is_(None),
                )
                .order_by(StagedRecord.id)
                .limit(size)
                # Pages of Leads and Contacts stage into the same step at once: without the lock a
                # second page could take records the first just put in a chunk, and send a chunk
                # short (one Marketo call more). Records another page is chunking are left to it.
                .with_for_update(skip_locked=True)
            )
        )
        if not ids or (len(ids) < size and not final):
            return formed
        seq = (seq or 0) + 1
        chunk = Chunk(run_id=run_id, step=step, lookup=lookup, size=len(ids), seq=seq, status=CHUNK_READY)
        session.add(chunk)
        session.flush()
        session.execute(update(StagedRecord).where(StagedRecord.id.in_(ids)).values(chunk_id=chunk.id))
        formed.append(chunk.id)


def unchunked_lookups(session: Session, run_id: int, step: str) -> list[str]:
    return list(
        session.scalars(
            select(StagedRecord.lookup)
            .where(StagedRecord.run_id == run_id, StagedRecord.step == step, StagedRecord.chunk_id.is_(None))
            .distinct()
        )
    )
