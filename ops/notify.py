"""Notifications that need a person: for now written to the log at ERROR level, once per kind and period."""

from __future__ import annotations

import logging

from clients.errors import MsiSyncError

log = logging.getLogger("msi_sync.notify")


def notify_run_failed(run_id: int, error: BaseException) -> None:
    log.error("run %s failed: %s", run_id, error)


def notify_budget_exhausted(error: MsiSyncError) -> None:
    log.error("API budget exhausted: %s", error)


def notify_credentials(error: MsiSyncError) -> None:
    log.error("credentials refused: %s", error)
