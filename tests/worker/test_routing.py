"""Routing: every task name meets exactly one queue, and a message lands in that queue only (real Redis)."""

from __future__ import annotations

import pytest
import redis

from worker.celery_app import app, celery_config
from worker.queues import QUEUES, ROUTES
from worker.settings import load_settings

ROUTING_REDIS = "redis://127.0.0.1:6379/4"


@pytest.fixture(autouse=True, scope="module")
def _tasks_imported() -> None:
    """Import the task modules as a worker does, so app.tasks holds ours."""
    app.loader.import_default_modules()
    assert "msi.upsert_chunk" in app.tasks


def test_every_route_names_a_declared_queue_and_every_task_is_routed() -> None:
    declared = {queue.name for queue in QUEUES}
    assert {route["queue"] for route in ROUTES.values()} <= declared
    ours = {name for name in app.tasks if name.startswith("msi.")}
    assert ours <= set(ROUTES), f"unrouted tasks: {sorted(ours - set(ROUTES))}"


def test_beat_entries_name_registered_tasks() -> None:
    schedule = celery_config(load_settings())["beat_schedule"]
    assert {entry["task"] for entry in schedule.values()} <= set(app.tasks)


@pytest.mark.parametrize("task_name", sorted(ROUTES))
def test_a_message_lands_in_its_own_queue_only(task_name: str, redis_url: str) -> None:
    broker = redis.Redis.from_url(ROUTING_REDIS)
    broker.flushdb()
    app.conf.update(broker_url=ROUTING_REDIS)
    try:
        with app.connection_for_write() as connection:
            app.send_task(task_name, kwargs={}, connection=connection)
        lengths = {queue.name: broker.llen(queue.name) for queue in QUEUES}
        assert lengths == {q.name: int(q.name == ROUTES[task_name]["queue"]) for q in QUEUES}
    finally:
        broker.flushdb()
        app.conf.update(broker_url=celery_config(load_settings())["broker_url"])
