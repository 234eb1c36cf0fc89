"""The Celery app, settings, queues and beat schedule."""
