"""The Celery app: broker, result backend, reliability settings, queues, routes and beat, from Settings."""

from __future__ import annotations

import sys
from typing import Any

from celery import Celery, signals

from clients.errors import ConfigurationError
from worker.queues import QUEUES, ROUTES, SYNC
from worker.schedule import beat_schedule
from worker.settings import Settings, get_settings

TASK_MODULES = ["tasks.cycle", "tasks.chunks", "tasks.sweeper", "tasks.writeback"]


def celery_config(settings: Settings) -> dict[str, Any]:
    embedded = settings.embedded
    transport = {"visibility_timeout": settings.VISIBILITY_TIMEOUT_SECONDS}
    # No task outlives Redis's visibility timeout (Settings._tasks_end_before_redelivery); the
    # embedded runner has no Redis and its thread pool cannot stop a task, so it has no limit.
    limits = (
        {}
        if embedded
        else {
            "task_time_limit": settings.TASK_TIME_LIMIT_SECONDS,
            "task_soft_time_limit": settings.task_soft_time_limit_seconds,
        }
    )
    return {
        **limits,
        "broker_url": "memory://" if embedded else settings.REDIS_URL,
        # Chords count their header tasks in the result backend; Redis does it with a counter.
        "result_backend": "cache+memory://" if embedded else settings.REDIS_URL,
        "broker_transport_options": transport,
        "result_backend_transport_options": transport,
        "broker_connection_retry_on_startup": True,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_expires": 24 * 3600,
        "task_default_queue": SYNC,
        "task_queues": QUEUES,
        "task_routes": ROUTES,
        # Chunk writes are idempotent upserts: acknowledge after the work, and put the message
        # back when a worker process dies mid-task, so nothing is lost to a crash.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        # After a broker connection loss, unacknowledged tasks are redelivered: cancel our
        # running copies instead of letting two run at once.
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        # Flower sees tasks without extra worker flags.
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "task_track_started": True,
        "result_extended": False,
        "beat_schedule": beat_schedule(settings),
        "timezone": "UTC",
        "enable_utc": True,
    }


def create_app(settings: Settings) -> Celery:
    # ReadableSentEvents: Flower shows a queued task by its shadow name too (worker/task_events.py).
    app = Celery("msi_sync", include=TASK_MODULES, amqp="worker.task_events:ReadableSentEvents")
    app.conf.update(celery_config(settings))
    # The default app for every thread, not only this one: the embedded worker runs tasks on
    # pool threads, which would otherwise resolve tasks against Celery's empty default app.
    app.set_default()
    return app


def _settings_or_exit() -> Settings:
    try:
        return get_settings()
    except ConfigurationError as error:
        print(f"msi-sync: configuration error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


app = create_app(_settings_or_exit())


def reconfigure(settings: Settings) -> None:
    """Point the existing app at new settings (the embedded runner and tests use this).

    Celery keeps its broker connection pool and result backend once made; without dropping
    them, a new broker or backend URL would be ignored by this process.
    """
    from kombu import pools

    app.conf.update(celery_config(settings))
    pools.reset()  # type: ignore[no-untyped-call]  # kombu's process-wide pools, keyed by connection
    app._pool = None
    amqp = app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None
    app._backend_cache = None
    app._local.__dict__.pop("backend", None)


@signals.worker_init.connect
def _check_worker_settings(**_: Any) -> None:
    """A worker process needs the shared broker and a database the schema is current in."""
    from models.db import engine_for, migrate

    settings = get_settings()
    if settings.embedded and not _in_process():
        print(
            "msi-sync: configuration error: REDIS_URL is not set; a separate worker needs Redis "
            "(for everything in one process, run `msi-sync demo`)",
            file=sys.stderr,
        )
        raise SystemExit(2)
    migrate(settings.DATABASE_URL)
    engine_for(settings.DATABASE_URL).dispose()


@signals.worker_process_init.connect
def _after_fork(**_: Any) -> None:
    """Connections opened before the fork belong to the parent: start each child with its own."""
    from models.db import engine_for
    from worker import context

    engine_for(get_settings().DATABASE_URL).dispose(close=False)
    context.reset()


_IN_PROCESS = False


def mark_in_process() -> None:
    """Called by the embedded runner (demo, tests) that starts a worker inside this process."""
    global _IN_PROCESS
    _IN_PROCESS = True


def _in_process() -> bool:
    return _IN_PROCESS
