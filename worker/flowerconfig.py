"""Flower's settings (`celery -A worker flower --conf=worker/flowerconfig.py`): columns and an ids-only task view."""

# Flower executes this file and takes every top-level name that matches one of its options
# (tasks_columns, format_task); helpers are underscored so they can never match one.

from __future__ import annotations

import ast
import os
import re
import sys
from typing import Any

# Flower without a login shows every task to anyone who can reach it: refuse to start so.
# (Only when Flower runs this file; importing it, as tests do, has no such side effect.)
_RUN_BY_FLOWER = globals().get("__spec__") is None
if _RUN_BY_FLOWER and not os.environ.get("FLOWER_BASIC_AUTH"):
    print(
        "msi-sync: configuration error: FLOWER_BASIC_AUTH is not set; Flower must require a login "
        "(FLOWER_BASIC_AUTH=user:password)",
        file=sys.stderr,
    )
    raise SystemExit(2)

# Watching, not steering: no revoking tasks or resizing pools from the dashboard. The sync's
# state is in the database; a task revoked there would only be re-sent by the sweeper.
read_only = True

# The name carries run, stage, object type and chunk ("leads:upsert run 12 chunk 345", "extract
# leads run 12"); the result has the counts. A task's own page shows its kwargs (ids).
tasks_columns = "name,state,result,received,runtime,retries,worker"

_HIDDEN = "[hidden]"
# Keys whose text values are our own vocabulary: step names ("leads:upsert"), object types,
# Salesforce object names ("Contact"), statuses ("waiting-for-budget"), triggers.
_WORD_KEYS = frozenset(
    {"step", "object_type", "objects", "sobject", "sobjects", "status", "trigger", "kind", "purpose"}
)
_WORD = re.compile(r"[A-Za-z][A-Za-z_-]{0,40}(:[a-z_]{1,40})?")
_EMAIL = re.compile(r"[^\s@'\"<>()\[\]{},;:]+@[^\s@'\"<>()\[\]{},;:]+\.[A-Za-z]{2,}")
_IDS_IN_NAME = re.compile(r" (?:run|chunk) \d+")
_TOKEN = re.compile(
    r"(?i)(bearer\s+|(?:access_token|client_secret|secret|password|token)['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+"
)


def format_task(task: Any) -> Any:
    """What the tasks page and a task's page show: ids, counts and our own words, nothing else.

    Tasks carry ids only (tasks/dispatch.py); this is the second line of defence should a task
    ever be given something more: unknown keys and free text are hidden, not shown.
    """
    task.args = _ids_only(task.args)
    task.kwargs = _ids_only(task.kwargs)
    task.result = _ids_only(task.result)
    task.exception = _redacted(task.exception)
    task.traceback = _redacted(task.traceback)
    return task


def _ids_only(text: str | None) -> str | None:
    """The repr Celery put in the event, with every value that is not an id, count or word hidden."""
    if text is None:
        return None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        # Celery shortens long reprs ("..."), which no longer parse; show nothing rather than guess.
        return _HIDDEN
    return repr(_filtered(value, key=None))


def _filtered(value: Any, key: str | None) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value if key in _WORD_KEYS and _WORD.fullmatch(value) else _HIDDEN
    if isinstance(value, dict):
        return {str(k): _filtered(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = [_filtered(item, key) for item in value]
        return items if isinstance(value, list) else tuple(items)
    return _HIDDEN


def _redacted(text: str | None) -> str | None:
    """Exception text is ours and names codes, not records; still, mask anything shaped like an
    email address or a credential before Flower shows it."""
    if text is None:
        return None
    text = _EMAIL.sub("[email hidden]", text)
    return _TOKEN.sub(lambda match: match.group(1) + _HIDDEN, text)


def _metric_name(name: str) -> str:
    """A task's name without its run and chunk ids: "leads:upsert run 12 chunk 345" -> "leads:upsert"."""
    return _IDS_IN_NAME.sub("", name)


def _bounded_metric_labels() -> None:
    """Flower labels its Prometheus series by task name, and ours carry run and chunk ids: one new
    series per chunk, without end, in Flower and in Prometheus. Label by the stage instead."""
    from flower.events import PrometheusMetrics

    original = PrometheusMetrics.observe_task
    if getattr(original, "msi_bounded", False):
        return

    def observe_task(self: Any, worker: str, event: dict[str, Any], task: Any) -> Any:
        name = event.get("name") or getattr(task, "name", None) or ""
        return original(self, worker, {**event, "name": _metric_name(name)}, task)

    observe_task.msi_bounded = True  # type: ignore[attr-defined]
    PrometheusMetrics.observe_task = observe_task


_bounded_metric_labels()
