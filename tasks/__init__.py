"""Celery tasks: thin entry points that take ids, call pipeline functions and commit."""
