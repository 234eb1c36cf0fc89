"""Task messages whose `task-sent` event carries the readable (shadow) name the worker reports too."""

from __future__ import annotations

from typing import Any

from celery.app.amqp import AMQP


class ReadableSentEvents(AMQP):  # type: ignore[misc]
    """Celery names a task by its shadow in the worker's events but by its registered name in the
    client's `task-sent` event, which is published after the message and can reach Flower after
    the task has finished: Flower then renames the task back. Sending the shadow in both keeps
    "leads:upsert run 12 chunk 345" on screen from the moment the task is queued."""

    def as_task_v2(self, *args: Any, **kwargs: Any) -> Any:
        message = super().as_task_v2(*args, **kwargs)
        shadow = message.headers.get("shadow")
        if shadow and message.sent_event is not None:
            message.sent_event["name"] = shadow
        return message
