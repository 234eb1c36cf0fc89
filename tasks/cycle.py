"""Cycle tasks: start a run, read Salesforce into staging, and move the run on when a wave ends."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy.exc import OperationalError

from clients.errors import AuthenticationFailed, BudgetExhausted, GuardError, RequestRejected, RetryLater
from models.db import session_scope
from pipeline import objects as o
from pipeline.extract import extract_some
from pipeline.progress import RunAlreadyRunning, advance, fail_run, start_run
from tasks.dispatch import dispatch_extract, dispatch_ready
from worker import context
from worker.celery_app import app

log = logging.getLogger(__name__)
DATABASE_RETRY_SECONDS = 5.0
PAGES_PER_TASK = 25  # 50,000 records; the task's time budget (Settings.extract_task_seconds) also bounds it


@app.task(name="msi.start_cycle", bind=True)
def start_cycle(
    self: Task, objects: list[str] | None = None, full: bool = False, trigger: str = "api"
) -> dict[str, Any]:
    """Start a sync run, unless one is running: then say so and do nothing."""
    settings = context.settings()
    from models.db import migrate

    migrate(settings.DATABASE_URL)
    from ops.connection import guard_cycle
    from ops.failures import check_backlog

    guard_cycle(settings)  # raises GuardError (notified) unless the credentials reach the connected org
    check_backlog(settings)  # notifies when failed records pile up past NOTIFY_FAILURES_THRESHOLD
    wanted = list(objects or o.OBJECT_TYPES)
    try:
        with session_scope(settings.DATABASE_URL) as session:
            run = start_run(
                session,
                object_types=wanted,
                full=full,
                trigger=trigger,
                overlap=timedelta(seconds=settings.WATERMARK_OVERLAP_SECONDS),
            )
            run_id = run.id
    except RunAlreadyRunning as busy:
        log.info("cycle not started: %s", busy)
        return {"status": "already-running", "run": busy.run_id, "message": str(busy)}
    log.info("run %s started (%s, objects=%s, full=%s)", run_id, trigger, ",".join(wanted), full)
    parallel_people = not _people_synced(settings.DATABASE_URL)
    for object_type in o.OBJECT_TYPES:
        if object_type not in wanted:
            continue
        if object_type == o.LEADS and parallel_people:
            # Leads are read before Contacts so a converted Lead's Marketo record is handed to
            # its Contact; with no person synced yet there is nothing to hand over, and reading
            # both at once shortens a first sync.
            for sobject in o.SOURCES[o.LEADS]:
                dispatch_extract(run_id, object_type, [sobject])
        else:
            dispatch_extract(run_id, object_type)
    _advance_and_dispatch(run_id)
    return {"status": "started", "run": run_id}


@app.task(name="msi.extract", bind=True, max_retries=None)
def extract(self: Task, run_id: int, object_type: str, sobjects: list[str] | None = None) -> dict[str, Any]:
    """Read the Salesforce objects of one Marketo object type, in order, for a bounded number of pages and time."""
    settings = context.settings()
    order = list(sobjects or o.SOURCES[object_type])
    # Half the soft time limit: the task hands the rest to a new task long before it is stopped.
    deadline = time.monotonic() + settings.extract_task_seconds
    position = 0

    def continue_in_a_new_task() -> dict[str, Any]:
        dispatch_extract(run_id, object_type, order[position:])
        return {"run": run_id, "object_type": object_type, "status": "continues"}

    try:
        for position, sobject in enumerate(order):
            if position and time.monotonic() >= deadline:
                return continue_in_a_new_task()
            progress = extract_some(
                settings.DATABASE_URL,
                run_id,
                sobject,
                context.salesforce(),
                context.mapping(),
                delete_people=settings.DELETED_PEOPLE == "delete",
                max_pages=PAGES_PER_TASK,
                lease=timedelta(seconds=settings.extract_lease_seconds),
                after_commit=lambda: dispatch_ready(run_id),
                deadline=deadline,
            )
            if progress.status == "more":
                return continue_in_a_new_task()
            if progress.status == "busy":
                return {"run": run_id, "object_type": object_type, "status": "busy"}
    except (RetryLater, BudgetExhausted) as error:
        if error.retry_after <= settings.max_countdown_seconds:
            raise self.retry(countdown=error.retry_after, exc=error) from None
        # A long wait (a spent daily budget): the sweeper picks the extract up again later.
        log.warning("run %s: extract of %s waits %.0fs: %s", run_id, object_type, error.retry_after, error)
        return {"run": run_id, "object_type": object_type, "status": "waiting"}
    except OperationalError as down:
        # The database restarting: the extract resumes from its last committed page.
        raise self.retry(countdown=DATABASE_RETRY_SECONDS, exc=down) from None
    except SoftTimeLimitExceeded:
        # A page slower than the deadline allowed: the extract was given back (extract_some
        # releases it on any error), so a new task resumes from its last committed page.
        log.warning("run %s: extract of %s reached the task time limit; continuing in a new task", run_id, object_type)
        return continue_in_a_new_task()
    except (AuthenticationFailed, GuardError, RequestRejected) as error:
        with session_scope(settings.DATABASE_URL) as session:
            fail_run(session, run_id, f"extract of {object_type}: {error}")
        from ops.notify import notify_run_failed

        notify_run_failed(run_id, error)
        return {"run": run_id, "object_type": object_type, "status": "failed"}
    _advance_and_dispatch(run_id)
    return {"run": run_id, "object_type": object_type, "status": "done"}


@app.task(name="msi.chunks_done")
def chunks_done(_results: Any = None, *, run_id: int, step: str) -> dict[str, Any]:
    """Chord body of a wave of chunks: let the database say what is done, then send what is next."""
    finished = _advance_and_dispatch(run_id)
    return {"run": run_id, "step": step, "finished": finished}


def _people_synced(database_url: str) -> bool:
    from sqlalchemy import select

    from models.records import IdMap

    with session_scope(database_url) as session:
        return session.scalars(select(IdMap.id).where(IdMap.object_type == o.LEADS).limit(1)).first() is not None


def _advance_and_dispatch(run_id: int) -> bool:
    with session_scope(context.database_url()) as session:
        result = advance(session, run_id)
    if result.opened or result.done:
        log.info("run %s: opened %s, done %s", run_id, result.opened, result.done)
    if result.finished:
        log.info("run %s finished", run_id)
        return True
    dispatch_ready(run_id)
    return False
