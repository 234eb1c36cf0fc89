"""The beat schedule: sync cycles, write-back passes and their sweepers, at the configured intervals."""

from __future__ import annotations

from typing import Any

from worker.settings import Settings


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        "sync-cycle": {
            "task": "msi.start_cycle",
            "schedule": float(settings.SYNC_INTERVAL_SECONDS),
            "kwargs": {"trigger": "beat"},
            # A beat tick that finds the last one still queued adds nothing useful.
            "options": {"expires": float(settings.SYNC_INTERVAL_SECONDS)},
        },
        "sweeper": {
            "task": "msi.sweep",
            "schedule": float(settings.SWEEPER_INTERVAL_SECONDS),
            "options": {"expires": float(settings.SWEEPER_INTERVAL_SECONDS)},
        },
        # The score write-back (pipeline/writeback/): its own passes, and its own sweeper on its queue.
        "writeback-pass": {
            "task": "msi.start_writeback",
            "schedule": float(settings.WRITEBACK_INTERVAL_SECONDS),
            "kwargs": {"trigger": "beat"},
            "options": {"expires": float(settings.WRITEBACK_INTERVAL_SECONDS)},
        },
        "writeback-sweeper": {
            "task": "msi.writeback_sweep",
            "schedule": float(settings.SWEEPER_INTERVAL_SECONDS),
            "options": {"expires": float(settings.SWEEPER_INTERVAL_SECONDS)},
        },
    }
