"""Soak benchmark: a large org's full sync, then cycles with a steady trickle of changes, for a long stretch.

    python -m benchmarks.soak --size 1000000 --cycles 30 --changes 500 --time-scale 2

Marketo's limits are real but its clock runs `--time-scale` times faster (its 20 s window,
latencies and token life shrink; the limiter's window follows), so the stretch fits in
an afternoon. Every cycle reports: duration, records sent, Marketo and Salesforce calls,
open failures, the broker's queue lengths, and each process's peak memory so far.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from benchmarks.harness import Deployment, deployment, minimum_marketo_calls, run_cycle

RESULTS = Path(__file__).with_name("results")


def _open_failures(stack: Deployment) -> int:
    from models.db import session_scope
    from models.records import Failure

    with session_scope(stack.env["DATABASE_URL"]) as session:
        return int(
            session.scalar(
                select(func.count()).select_from(Failure).where(Failure.status == "open", Failure.kind == "error")
            )
            or 0
        )


def _staged_rows(stack: Deployment) -> int:
    from models.db import session_scope
    from models.runs import StagedRecord

    with session_scope(stack.env["DATABASE_URL"]) as session:
        return int(session.scalar(select(func.count()).select_from(StagedRecord)) or 0)


def _cycle(stack: Deployment, label: str, marketo_since: int, salesforce_since: int) -> dict[str, Any]:
    run = run_cycle(stack, timeout=7200)
    marketo = stack.marketo_log(marketo_since)
    salesforce = stack.salesforce_log(salesforce_since)
    writes = [e for e in marketo if e["operation"] in ("sync", "delete", "merge")]
    seconds = (run.finished_at - run.started_at).total_seconds()
    sent = sum(counts["sent"] for counts in run.summary.values())
    stack.sample_memory()
    return {
        "cycle": label,
        "status": run.status,
        "seconds": round(seconds, 1),
        "extracted": sum(counts["extracted"] for counts in run.summary.values()),
        "sent": sent,
        "records_per_second": round(sent / seconds, 1) if seconds else None,
        "marketo_calls": len([e for e in marketo if e["operation"] != "identity"]),
        "marketo_write_calls": len(writes),
        "marketo_minimum_calls": minimum_marketo_calls(run.summary),
        "marketo_606_615": sum(1 for e in marketo if e["error_code"] in ("606", "615")),
        "salesforce_calls": len([e for e in salesforce if e["operation"] not in ("token", "versions")]),
        "open_failures": _open_failures(stack),
        "staged_rows_left": _staged_rows(stack),
        "queues": stack.queue_lengths(),
        # The service's processes only (the simulators host the whole org in memory).
        "peak_rss_mb": round(max(v for k, v in stack.peak_rss_mb.items() if not k.startswith("simulators"))),
        "marketo_seq": marketo[-1]["seq"] if marketo else marketo_since,
        "salesforce_seq": salesforce[-1]["seq"] if salesforce else salesforce_since,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--cycles", type=int, default=30)
    parser.add_argument("--changes", type=int, default=500, help="Salesforce changes made before each cycle")
    parser.add_argument("--pause", type=float, default=5.0, help="seconds between cycles")
    parser.add_argument("--time-scale", type=float, default=2.0)
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    started = time.monotonic()
    sim_args = {"latency_per_call": 0.5, "latency_per_record": 0.002, "time_scale": args.time_scale}
    with deployment(args.size, "real", **sim_args) as stack:
        stack.start_worker("sync", "sync", 4)
        stack.start_worker("marketo", "marketo", 10)
        stack.wait_workers()
        row = _cycle(stack, "full", 0, 0)
        rows.append(row)
        print(json.dumps(row), flush=True)
        for index in range(1, args.cycles + 1):
            time.sleep(args.pause)
            stack.mutate_salesforce(seed=1000 + index, changes=args.changes)
            row = _cycle(stack, str(index), row["marketo_seq"], row["salesforce_seq"])
            rows.append(row)
            print(json.dumps(row), flush=True)
    result = {
        "size": args.size,
        "cycles": args.cycles,
        "changes_per_cycle": args.changes,
        "time_scale": args.time_scale,
        "wall_minutes": round((time.monotonic() - started) / 60, 1),
        "rows": rows,
        "peak_rss_mb_by_process": {
            k: round(v) for k, v in sorted(stack.peak_rss_mb.items()) if not k.startswith("simulators")
        },
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"soak-{args.size}.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
