"""worker/flowerconfig.py on its own: what Flower's pages may show of a task, and which options the file sets."""

from __future__ import annotations

import runpy
from types import SimpleNamespace
from typing import Any

import pytest
from flower.options import default_options

from worker import flowerconfig
from worker.flowerconfig import format_task


def task(**fields: Any) -> SimpleNamespace:
    base = {"args": "()", "kwargs": "{}", "result": None, "exception": None, "traceback": None}
    return SimpleNamespace(**{**base, **fields})


def test_ids_counts_and_our_words_are_shown_as_they_are() -> None:
    shown = format_task(
        task(
            kwargs="{'run_id': 12, 'step': 'leads:upsert', 'chunk_id': 345, 'standalone': False}",
            result="{'chunk': 345, 'status': 'done', 'succeeded': 298, 'failed': 2, 'calls': 1}",
        )
    )
    assert shown.kwargs == "{'run_id': 12, 'step': 'leads:upsert', 'chunk_id': 345, 'standalone': False}"
    assert shown.result == "{'chunk': 345, 'status': 'done', 'succeeded': 298, 'failed': 2, 'calls': 1}"
    for kwargs in (
        "{'objects': ['leads', 'roles'], 'full': True}",
        "{'run_id': 3, 'object_type': 'leads', 'sobjects': ['Lead', 'Contact']}",
    ):
        assert format_task(task(kwargs=kwargs)).kwargs == kwargs
    assert format_task(task(result="{'chunk': 9, 'status': 'waiting-for-budget'}")).result == (
        "{'chunk': 9, 'status': 'waiting-for-budget'}"
    )


def test_anything_else_is_hidden() -> None:
    shown = format_task(
        task(
            args="([{'Email': 'ann@example.com'}],)",
            kwargs="{'run_id': 1, 'step': 'Ann Smith', 'email': 'ann@example.com', 'payload': {'lastName': 'Smith'}}",
            result="{'status': 'done', 'message': 'lead ann@example.com rejected'}",
        )
    )
    assert shown.args == "([{'Email': '[hidden]'}],)"
    assert shown.kwargs == "{'run_id': 1, 'step': '[hidden]', 'email': '[hidden]', 'payload': {'lastName': '[hidden]'}}"
    assert shown.result == "{'status': 'done', 'message': '[hidden]'}"
    # Celery cuts long reprs short ("..."): what no longer parses is not shown at all.
    assert format_task(task(kwargs="{'run_id': 1, 'records': [{'email': 'ann@exa...")).kwargs == "[hidden]"
    assert format_task(task(result="<object at 0x7f>")).result == "[hidden]"


def test_exceptions_keep_their_codes_but_not_addresses_or_credentials() -> None:
    shown = format_task(
        task(
            exception="RequestRejected('1003 Invalid email ann@example.com')",
            traceback="Traceback...\nAuthenticationFailed: token rejected, Authorization: Bearer abc.def-123 "
            "client_secret=s3cr3t",
        )
    )
    assert shown.exception == "RequestRejected('1003 Invalid email [email hidden]')"
    assert "abc.def-123" not in shown.traceback and "s3cr3t" not in shown.traceback
    assert "AuthenticationFailed: token rejected" in shown.traceback


def test_metric_labels_lose_run_and_chunk_ids() -> None:
    assert flowerconfig._metric_name("leads:upsert run 12 chunk 345") == "leads:upsert"
    assert flowerconfig._metric_name("leads:upsert run 12 wave done") == "leads:upsert wave done"
    assert flowerconfig._metric_name("extract leads run 12") == "extract leads"
    assert flowerconfig._metric_name("msi.start_cycle") == "msi.start_cycle"


def test_the_file_sets_only_the_flower_options_it_means_to(monkeypatch: pytest.MonkeyPatch) -> None:
    # Flower executes the file and takes every top-level name that is one of its options.
    monkeypatch.setenv("FLOWER_BASIC_AUTH", "admin:secret")
    names = runpy.run_path(flowerconfig.__file__)
    options = {name.replace("-", "_") for name in default_options._options}
    assert {name for name in names if name in options} == {"tasks_columns", "format_task", "read_only"}
    assert names["read_only"] is True
    columns = names["tasks_columns"].split(",")
    assert columns[0] == "name" and "kwargs" not in columns and "args" not in columns
