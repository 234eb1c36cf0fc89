"""The chunk task: one Marketo call's worth of records, retried with countdowns, never sleeping."""

from __future__ import annotations

import logging
import random
from datetime import timedelta
from typing import Any

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy.exc import OperationalError

from clients.errors import (
    AuthenticationFailed,
    BudgetExhausted,
    RequestRejected,
    RetryLater,
    SessionExpired,
    Throttled,
)
from pipeline.sending import (
    ChunkResult,
    LeaseLost,
    claim,
    fail_chunk,
    keep_until_lease_ends,
    rejected_message,
    release,
    send,
    transient_failures,
)
from worker import context
from worker.celery_app import app

log = logging.getLogger(__name__)
DATABASE_RETRY_SECONDS = 5.0
MAX_TRANSIENT_FAILURES = 8  # then the records go to the failures table and the next cycle tries again
CREDENTIALS_WAIT = 600.0


def _backoff(failures: int, ceiling: float) -> float:
    return min(ceiling, 2.0 ** (failures - 1)) * random.uniform(0.8, 1.0)


@app.task(name="msi.upsert_chunk", bind=True, max_retries=None, acks_late=True, reject_on_worker_lost=True)
def upsert_chunk(self: Task, run_id: int, step: str, chunk_id: int, standalone: bool = False) -> dict[str, Any]:
    """Write one chunk to Marketo. Arguments are ids only: no record or secret travels in a message."""
    settings = context.settings()
    url = settings.DATABASE_URL
    lease = timedelta(seconds=settings.CHUNK_LEASE_SECONDS)
    try:
        claimed = claim(url, chunk_id, lease)
    except OperationalError as down:
        raise self.retry(countdown=DATABASE_RETRY_SECONDS, exc=down) from None
    if isinstance(claimed, ChunkResult):
        return claimed.as_dict()
    try:
        result = send(url, claimed, context.marketo(), lease)
    except OperationalError as down:
        # The database went away mid-chunk: our claim cannot be released, so come back when
        # its lease has run out (a re-send is harmless: Marketo writes are upserts).
        log.warning("chunk %s: database unavailable (%s); retrying after its lease", chunk_id, down)
        raise self.retry(countdown=min(lease.total_seconds() + 1, settings.max_countdown_seconds), exc=down) from None
    except LeaseLost:
        return ChunkResult(chunk_id, "busy").as_dict()
    except Throttled as wait:
        release(url, claimed, due_in=wait.retry_after, waiting=False, transient=False)
        # Jitter spreads the waiting chunks so they do not all ask again at the same instant.
        countdown = min(wait.retry_after, settings.max_countdown_seconds) + random.uniform(0, 0.2)
        raise self.retry(countdown=countdown, exc=wait) from None
    except RetryLater as error:
        failures = transient_failures(url, chunk_id) + 1
        if failures > MAX_TRANSIENT_FAILURES:
            result = fail_chunk(url, claimed, error.code or "TRANSIENT", f"gave up after {failures} tries: {error}")
        elif error.retry_after > settings.max_countdown_seconds:
            # Longer than a countdown may wait (a lost answer held until Marketo's server timeout,
            # under a short visibility timeout): parked, the sweeper sends it when it is due.
            release(url, claimed, due_in=error.retry_after, waiting=True, transient=True)
            log.warning("chunk %s waits %.0fs: %s", chunk_id, error.retry_after, error)
            return ChunkResult(chunk_id, "waiting").as_dict()
        else:
            delay = min(
                max(error.retry_after, _backoff(failures, settings.max_countdown_seconds)),
                settings.max_countdown_seconds,
            )
            release(url, claimed, due_in=delay, waiting=False, transient=True)
            raise self.retry(countdown=delay, exc=error) from None
    except BudgetExhausted as spent:
        if spent.retry_after <= settings.max_countdown_seconds:
            release(url, claimed, due_in=spent.retry_after, waiting=False, transient=False)
            raise self.retry(countdown=spent.retry_after, exc=spent) from None
        release(url, claimed, due_in=spent.retry_after, waiting=True, transient=False)
        from ops.notify import notify_budget_exhausted

        notify_budget_exhausted(spent)
        return ChunkResult(chunk_id, "waiting-for-budget").as_dict()
    except (AuthenticationFailed, SessionExpired) as refused:
        release(url, claimed, due_in=CREDENTIALS_WAIT, waiting=True, transient=False)
        from ops.notify import notify_credentials

        notify_credentials(refused)
        return ChunkResult(chunk_id, "waiting-for-credentials").as_dict()
    except RequestRejected as rejected:
        code, message = rejected_message(rejected)
        result = fail_chunk(url, claimed, code, message)
    except SoftTimeLimitExceeded:
        failures = keep_until_lease_ends(url, claimed)
        if failures > MAX_TRANSIENT_FAILURES:
            result = fail_chunk(url, claimed, "TASK_TIME_LIMIT", f"stopped by the task time limit {failures} times")
        else:
            log.warning("chunk %s: stopped by the task time limit; retrying after its lease", chunk_id)
            raise self.retry(countdown=min(lease.total_seconds() + 1, settings.max_countdown_seconds)) from None
    except Exception as bug:
        # A defect must not leave the chunk held and its run waiting: its records go to the
        # failures table (retried next cycle) and the traceback to the log.
        log.exception("chunk %s failed unexpectedly", chunk_id)
        result = fail_chunk(url, claimed, "INTERNAL_ERROR", f"{type(bug).__name__}: {bug}"[:500])
    if standalone:
        from tasks.cycle import _advance_and_dispatch

        _advance_and_dispatch(run_id)
    return result.as_dict()
