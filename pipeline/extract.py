"""Read one Salesforce object for a run, page by page, committing each page so a crash loses nothing."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from models.base import utcnow
from models.db import session_scope
from models.records import FAILURE_OPEN, KIND_WARNING, Failure
from models.runs import EXTRACT_DONE, EXTRACT_PENDING, EXTRACT_RUNNING, RUN_RUNNING, RunExtract, SyncRun
from pipeline.mapping import MappingConfig
from pipeline.ports import QueryPage, SalesforcePort
from pipeline.progress import touch
from pipeline.soql import extract_query, reads_deleted
from pipeline.staging import PageStager, form_chunks, restage_open_failures


@dataclass(frozen=True)
class ExtractProgress:
    status: str  # "done", "more" (call again), "busy" (another worker holds it), "gone" (run over)
    pages: int = 0
    records: int = 0


def _claim(database_url: str, run_id: int, sobject: str, lease: timedelta) -> str | None:
    """Take the extract's lease; None if another worker holds it or it is finished."""
    holder = uuid.uuid4().hex
    now = utcnow()
    with session_scope(database_url) as session:
        run_status = session.scalar(select(SyncRun.status).where(SyncRun.id == run_id))
        if run_status != RUN_RUNNING:
            return None
        claimed = session.execute(  # type: ignore[attr-defined]
            update(RunExtract)
            .where(
                RunExtract.run_id == run_id,
                RunExtract.sobject == sobject,
                RunExtract.status != EXTRACT_DONE,
                or_(RunExtract.lease_until.is_(None), RunExtract.lease_until < now),
            )
            .values(status=EXTRACT_RUNNING, lease_until=now + lease, started_at=now)
        ).rowcount
    return holder if claimed else None


def _pages(sf: SalesforcePort, extract: RunExtract, config: MappingConfig) -> Iterator[QueryPage]:
    if extract.cursor:
        page = sf.query_page(extract.cursor)
        yield page
        while page.next_records_url:
            page = sf.query_page(page.next_records_url)
            yield page
        return
    soql = extract_query(extract.sobject, config.soql_fields(extract.sobject), extract.since)
    yield from sf.query(soql, include_deleted=reads_deleted(extract.sobject))


def extract_some(
    database_url: str,
    run_id: int,
    sobject: str,
    sf: SalesforcePort,
    config: MappingConfig,
    *,
    delete_people: bool,
    max_pages: int,
    lease: timedelta,
    after_commit: Callable[[], object] = lambda: None,
    deadline: float | None = None,
) -> ExtractProgress:
    """Read up to `max_pages` pages, or until `deadline` (monotonic), staging each page in its own transaction.

    `lease` is how long the extract stays ours without a new page (longer than any page
    takes); a crashed extract is taken over by the sweeper once it passes. `after_commit` runs
    after every committed page (the task dispatches the new chunks then,
    so Marketo writes start while later pages are still being read).
    """
    if _claim(database_url, run_id, sobject, lease) is None:
        with session_scope(database_url) as session:
            status = session.scalar(
                select(RunExtract.status).where(RunExtract.run_id == run_id, RunExtract.sobject == sobject)
            )
        return ExtractProgress("done" if status == EXTRACT_DONE else "busy")
    with session_scope(database_url) as session:
        extract = session.scalars(
            select(RunExtract).where(RunExtract.run_id == run_id, RunExtract.sobject == sobject)
        ).one()
        session.expunge(extract)
    try:
        return _read_pages(
            database_url, run_id, extract, sf, config, delete_people, max_pages, deadline, lease, after_commit
        )
    except Exception:
        # Give the extract back at once so the task's retry (or anyone) may resume it from
        # its last committed page, instead of waiting for the lease to run out. If the
        # database itself is what failed, the lease runs out and the sweeper resumes it.
        with contextlib.suppress(Exception):
            _release(database_url, run_id, sobject)
        raise


def _read_pages(
    database_url: str,
    run_id: int,
    extract: RunExtract,
    sf: SalesforcePort,
    config: MappingConfig,
    delete_people: bool,
    max_pages: int,
    deadline: float | None,
    lease: timedelta,
    after_commit: Callable[[], object],
) -> ExtractProgress:
    sobject = extract.sobject
    pages = records = 0
    for page in _pages(sf, extract, config):
        with session_scope(database_url) as session:
            stager = PageStager(session, run_id, config, delete_people)
            result = stager.stage(sobject, page.records)
            row = session.scalars(
                select(RunExtract).where(RunExtract.run_id == run_id, RunExtract.sobject == sobject)
            ).one()
            row.extracted += result.extracted
            row.staged += result.staged
            row.unchanged += result.unchanged
            row.invalid += result.invalid
            row.pages += 1
            row.cursor = page.next_records_url
            row.lease_until = utcnow() + lease
            if result.max_modstamp and (row.max_modstamp is None or result.max_modstamp > row.max_modstamp):
                row.max_modstamp = result.max_modstamp
            for step, lookup in sorted(result.touched):
                form_chunks(session, run_id, step, lookup, final=False)
            touch(session, run_id)
        pages += 1
        records += result.extracted
        after_commit()
        if page.next_records_url is None:
            break
        if pages >= max_pages or (deadline is not None and time.monotonic() >= deadline):
            _release(database_url, run_id, sobject)
            return ExtractProgress("more", pages, records)
    _finish(database_url, run_id, sobject)
    return ExtractProgress("done", pages, records)


def _release(database_url: str, run_id: int, sobject: str) -> None:
    with session_scope(database_url) as session:
        session.execute(
            update(RunExtract)
            .where(RunExtract.run_id == run_id, RunExtract.sobject == sobject)
            .values(lease_until=None)
        )


def _finish(database_url: str, run_id: int, sobject: str) -> None:
    with session_scope(database_url) as session:
        retried = restage_open_failures(session, run_id, sobject)
        row = session.scalars(
            select(RunExtract).where(RunExtract.run_id == run_id, RunExtract.sobject == sobject)
        ).one()
        row.retried += retried
        row.warnings = _count_warnings(session, run_id, sobject)
        row.status, row.finished_at, row.lease_until, row.cursor = EXTRACT_DONE, utcnow(), None, None
        touch(session, run_id)


def _count_warnings(session: Session, run_id: int, sobject: str) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Failure)
            .where(
                Failure.run_id == run_id,
                Failure.kind == KIND_WARNING,
                Failure.status == FAILURE_OPEN,
                Failure.sobject == sobject,
            )
        )
        or 0
    )


def pending_extracts(database_url: str, run_id: int) -> list[str]:
    with session_scope(database_url) as session:
        return list(
            session.scalars(
                select(RunExtract.sobject).where(
                    RunExtract.run_id == run_id, RunExtract.status.in_((EXTRACT_PENDING, EXTRACT_RUNNING))
                )
            )
        )
