"""The Celery app (`celery -A worker ...`), settings, queues and beat schedule."""

from worker.celery_app import app

celery = app

__all__ = ["app", "celery"]
