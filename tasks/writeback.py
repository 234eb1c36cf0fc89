"""Write-back tasks on the `writeback` queue: start a pass, scan and plan, read, write, sweep; retries by countdown."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy.exc import OperationalError

from clients.errors import (
    AuthenticationFailed,
    BudgetExhausted,
    ConfigurationError,
    GuardError,
    RequestRejected,
    RetryLater,
    SessionExpired,
    Throttled,
)
from clients.limiter import WRITEBACK
from models.base import utcnow
from models.db import session_scope
from models.runs import Chunk, SyncRun
from pipeline.progress import RunAlreadyRunning
from pipeline.sending import (
    ChunkResult,
    Claim,
    LeaseLost,
    claim,
    keep_until_lease_ends,
    release,
    transient_failures,
)
from pipeline.writeback import passes
from pipeline.writeback.budget import PassBudget, calls_per_pass
from pipeline.writeback.guard import check_salesforce_share
from pipeline.writeback.mapping import WritebackMapping
from pipeline.writeback.planning import scan_and_plan, specs_of, targets_for
from pipeline.writeback.reading import read_chunk
from pipeline.writeback.writing import fail_write_chunk, write_chunk
from worker import context
from worker.celery_app import app

log = logging.getLogger(__name__)
# Waits longer than this park the chunk for the sweeper (and never past the settings' bound, which
# keeps every countdown well inside the visibility timeout).
MAX_COUNTDOWN = 120.0
MAX_TRANSIENT_FAILURES = 8
DATABASE_RETRY_SECONDS = 5.0
CREDENTIALS_WAIT = 600.0
Work = Callable[[Claim], ChunkResult]


@app.task(name="msi.start_writeback", bind=True)
def start_writeback(self: Task, trigger: str = "api") -> dict[str, Any]:
    """Start a write-back pass unless one is running (then nudge it along and say so)."""
    settings = context.settings()
    from models.db import migrate

    migrate(settings.DATABASE_URL)
    from ops.connection import guard_cycle

    try:
        # Scores of one org must never be written into another: the same check as a cycle's.
        guard_cycle(settings)
    except (GuardError, AuthenticationFailed) as refused:
        return {"status": "refused", "message": str(refused)}
    try:
        with session_scope(settings.DATABASE_URL) as session:
            run_id, chunk_id = passes.start_pass(session, trigger)
    except RunAlreadyRunning as busy:
        log.info("write-back pass not started: %s", busy)
        writeback_sweep()
        return {"status": "already-running", "run": busy.run_id, "message": str(busy)}
    log.info("write-back pass %s started (%s)", run_id, trigger)
    _send(run_id, passes.SCAN, chunk_id)
    return {"status": "started", "run": run_id}


@app.task(name="msi.writeback_scan", bind=True, max_retries=None, acks_late=True, reject_on_worker_lost=True)
def writeback_scan(self: Task, run_id: int, chunk_id: int) -> dict[str, Any]:
    """Check the target fields, page the activity log, choose whom to read: the pass's plan."""
    settings = context.settings()
    limiter = context.limiter()

    def work(claimed: Claim) -> ChunkResult:
        targets_for(
            settings.DATABASE_URL,
            run_id,
            context.salesforce(WRITEBACK),
            _mapping(),
            timedelta(seconds=settings.WRITEBACK_DESCRIBE_CACHE_SECONDS),
            lambda calls: check_salesforce_share(limiter, calls),
        )
        return scan_and_plan(
            settings.DATABASE_URL, claimed, context.marketo(WRITEBACK), PassBudget(calls_per_pass(settings)), _lease()
        )

    return _run_chunk(self, run_id, chunk_id, work)


@app.task(name="msi.writeback_read", bind=True, max_retries=None, acks_late=True, reject_on_worker_lost=True)
def writeback_read(self: Task, run_id: int, chunk_id: int) -> dict[str, Any]:
    """Read up to 300 people's MSI fields from Marketo and keep what changed."""
    url = context.database_url()

    def work(claimed: Claim) -> ChunkResult:
        with session_scope(url) as session:
            run = session.get(SyncRun, run_id)
            targets = (run.summary or {}).get("targets") if run else None
        if not targets:
            raise ConfigurationError("the pass has no checked target fields; its scan did not finish")
        return read_chunk(url, claimed, context.marketo(WRITEBACK), _mapping(), specs_of(targets), _lease())

    return _run_chunk(self, run_id, chunk_id, work)


@app.task(name="msi.writeback_write", bind=True, max_retries=None, acks_late=True, reject_on_worker_lost=True)
def writeback_write(self: Task, run_id: int, chunk_id: int) -> dict[str, Any]:
    """Write up to 200 people's changed values onto their Leads and Contacts in one call."""
    url = context.database_url()
    with session_scope(url) as session:
        due = session.get(Chunk, chunk_id)
        wait = (due.due_at - utcnow()).total_seconds() if due is not None and due.due_at else 0.0
    if wait > 0.5:  # sent early (by the sweeper): a locked row's retry keeps its distance
        raise self.retry(countdown=min(wait, _max_countdown()))
    limiter = context.limiter()

    def work(claimed: Claim) -> ChunkResult:
        return write_chunk(
            url, claimed, context.salesforce(WRITEBACK), lambda: check_salesforce_share(limiter), _lease()
        )

    return _run_chunk(self, run_id, chunk_id, work)


@app.task(name="msi.writeback_sweep")
def writeback_sweep() -> dict[str, Any]:
    """Send again what a pass lost or parked, and move passes on (beat runs it with the sync's sweeper)."""
    settings = context.settings()
    with session_scope(settings.DATABASE_URL) as session:
        stale = passes.find_stale(session, timedelta(seconds=settings.CHUNK_LEASE_SECONDS))
    for run_id, step, chunk_id in stale.chunks:
        _send(run_id, step, chunk_id)
    for run_id in stale.runs:
        _advance(run_id)
    if stale.chunks:
        log.warning("write-back sweeper re-sent %s chunks", len(stale.chunks))
    return {"chunks": len(stale.chunks), "runs": len(stale.runs)}


def _run_chunk(task: Task, run_id: int, chunk_id: int, work: Work) -> dict[str, Any]:
    """Claim the chunk, do its work, and turn every API exception into a retry, a parking or an end."""
    url = context.database_url()
    try:
        claimed = claim(url, chunk_id, _lease())
    except OperationalError as down:
        raise task.retry(countdown=DATABASE_RETRY_SECONDS, exc=down) from None
    if isinstance(claimed, ChunkResult):
        return claimed.as_dict()
    step = claimed.step
    try:
        result = work(claimed)
    except OperationalError as down:
        # The database went away mid-chunk: the claim cannot be released, so come back once its
        # lease has run out (doing a read or a write again is harmless).
        log.warning("write-back chunk %s: database unavailable (%s); retrying after its lease", chunk_id, down)
        raise task.retry(countdown=min(_lease().total_seconds() + 1, _max_countdown()), exc=down) from None
    except LeaseLost:
        return ChunkResult(chunk_id, "busy").as_dict()
    except Throttled as wait:
        release(url, claimed, due_in=wait.retry_after, waiting=False, transient=False)
        countdown = min(wait.retry_after, _max_countdown()) + random.uniform(0, 0.2)
        raise task.retry(countdown=countdown, exc=wait) from None
    except RetryLater as error:
        failures = transient_failures(url, chunk_id) + 1
        if failures <= MAX_TRANSIENT_FAILURES:
            delay = min(_max_countdown(), max(error.retry_after, 2.0**failures * random.uniform(0.8, 1.2)))
            release(url, claimed, due_in=delay, waiting=False, transient=True)
            raise task.retry(countdown=delay, exc=error) from None
        result = _give_up(url, claimed, error.code or "TRANSIENT", f"gave up after {failures} tries: {error}")
    except BudgetExhausted as spent:
        if spent.retry_after <= _max_countdown():
            release(url, claimed, due_in=spent.retry_after, waiting=False, transient=False)
            raise task.retry(countdown=spent.retry_after, exc=spent) from None
        # A spent daily budget: park the chunk; the sweeper sends it again when the time has come.
        release(url, claimed, due_in=spent.retry_after, waiting=True, transient=False)
        log.warning("write-back pass %s parked (%s): %s", run_id, step, spent)
        from ops.notify import notify_budget_exhausted

        notify_budget_exhausted(spent)
        return ChunkResult(chunk_id, "waiting-for-budget").as_dict()
    except (AuthenticationFailed, SessionExpired) as refused:
        release(url, claimed, due_in=CREDENTIALS_WAIT, waiting=True, transient=False)
        from ops.notify import notify_credentials

        notify_credentials(refused)
        return ChunkResult(chunk_id, "waiting-for-credentials").as_dict()
    except RequestRejected as rejected:
        result = _give_up(url, claimed, rejected.code or "REJECTED", f"refused as a whole: {rejected}")
    except SoftTimeLimitExceeded:
        failures = keep_until_lease_ends(url, claimed)
        if failures > MAX_TRANSIENT_FAILURES:
            result = _give_up(url, claimed, "TASK_TIME_LIMIT", f"stopped by the task time limit {failures} times")
        else:
            log.warning("write-back chunk %s: stopped by the task time limit; retrying after its lease", chunk_id)
            raise task.retry(countdown=min(_lease().total_seconds() + 1, _max_countdown())) from None
    except ConfigurationError as wrong:
        _fail_pass(run_id, claimed, f"{step}: {wrong}", wrong)
        return ChunkResult(chunk_id, "failed").as_dict()
    _advance(run_id)
    return result.as_dict()


def _give_up(url: str, claimed: Claim, code: str, message: str) -> ChunkResult:
    """A write's people go to the failures table; a scan or read that cannot be done ends the pass."""
    if claimed.step == passes.WRITE:
        return fail_write_chunk(url, claimed, code, message)
    error = f"{claimed.step} {code}: {message}"
    _fail_pass(claimed.run_id, claimed, error, RuntimeError(error))
    return ChunkResult(claimed.chunk_id, "failed")


def _fail_pass(run_id: int, claimed: Claim, message: str, error: BaseException) -> None:
    url = context.database_url()
    try:
        passes.abandon_chunk(url, claimed, message)
    except LeaseLost:
        return
    passes.fail_pass_now(url, run_id, message)
    log.error("write-back pass %s failed: %s", run_id, message)
    from ops.notify import notify_run_failed

    notify_run_failed(run_id, error)


def _advance(run_id: int) -> None:
    """Finish the pass if all is done; otherwise send its ready reads and its next write."""
    url = context.database_url()
    with session_scope(url) as session:
        finished = passes.advance(session, run_id)
    if finished:
        log.info("write-back pass %s finished", run_id)
        return
    with session_scope(url) as session:
        reads = passes.claim_reads(session, run_id)
    for chunk_id in reads:
        _send(run_id, passes.READ, chunk_id)
    with session_scope(url) as session:
        write = passes.claim_next_write(session, run_id)
    if write is not None:
        _send(run_id, passes.WRITE, write[0], countdown=min(write[1], _max_countdown()))


TASKS = {passes.SCAN: writeback_scan, passes.READ: writeback_read, passes.WRITE: writeback_write}


def _send(run_id: int, step: str, chunk_id: int, countdown: float = 0.0) -> None:
    # The shadow name is what Flower and the logs show: step, pass and chunk at a glance.
    TASKS[step].signature(
        kwargs={"run_id": run_id, "chunk_id": chunk_id}, immutable=True, shadow=f"{step} pass {run_id} chunk {chunk_id}"
    ).apply_async(countdown=countdown or None)


def _max_countdown() -> float:
    return min(MAX_COUNTDOWN, context.settings().max_countdown_seconds)


def _lease() -> timedelta:
    return timedelta(seconds=context.settings().CHUNK_LEASE_SECONDS)


_mapping_cache: dict[str, WritebackMapping] = {}


def _mapping() -> WritebackMapping:
    path = context.settings().WRITEBACK_FIELD_MAPPING_FILE
    key = str(path)
    if key not in _mapping_cache:
        _mapping_cache[key] = WritebackMapping.load(path)
    return _mapping_cache[key]
