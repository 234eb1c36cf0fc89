"""Full-sync benchmark: throughput against Marketo's ceiling, API calls against the minimum, memory per process.

    python -m benchmarks.full_sync --size 100000 --limits real   # Marketo's real limits
    python -m benchmarks.full_sync --size 200000 --limits off    # the pipeline alone

With real limits the ceiling is 300 records x 100 calls per 20 s = 1,500 records/s; the
figure reported is records written per second of the whole cycle (from its start to its
last watermark), divided by that ceiling.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.harness import deployment, minimum_marketo_calls, run_cycle

CEILING = 300 * 100 / 20
RESULTS = Path(__file__).with_name("results")


def measure(
    size: int, limits: str, marketo_workers: int, latency_per_call: float, latency_per_record: float
) -> dict[str, Any]:
    sim_args = {"latency_per_call": latency_per_call, "latency_per_record": latency_per_record}
    with deployment(size, limits, **sim_args) as stack:
        stack.start_worker("sync", "sync", 2)
        stack.start_worker("marketo", "marketo", marketo_workers)
        stack.wait_workers()
        run = run_cycle(stack)
        seconds = (run.finished_at - run.started_at).total_seconds()
        marketo = [e for e in stack.marketo_log() if e["operation"] not in ("identity",)]
        salesforce = stack.salesforce_log()
        written = sum(counts["sent"] for counts in run.summary.values())
        writes = [e for e in marketo if e["operation"] in ("sync", "delete", "merge")]
        minimum = minimum_marketo_calls(run.summary)
        queries = Counter(e["obj"] for e in salesforce if str(e["operation"]).startswith("query"))
        extracted = {sobject: 0 for sobject in queries}
        for entry in salesforce:
            if str(entry["operation"]).startswith("query"):
                extracted[entry["obj"]] += entry["records"]
        return {
            "size": size,
            "limits": limits,
            "status": run.status,
            "seconds": round(seconds, 1),
            "records_written": written,
            "records_per_second": round(written / seconds, 1),
            "fraction_of_ceiling": round(written / seconds / CEILING, 3) if limits == "real" else None,
            "marketo_write_calls": len(writes),
            "marketo_minimum_calls": minimum,
            "marketo_calls_vs_minimum": round(len(writes) / minimum, 3) if minimum else None,
            "marketo_606": sum(1 for e in marketo if e["error_code"] == "606"),
            "marketo_615": sum(1 for e in marketo if e["error_code"] == "615"),
            "salesforce_query_calls": dict(queries),
            "salesforce_minimum_calls": {s: max(1, math.ceil(n / 2000)) for s, n in extracted.items()},
            "peak_rss_mb": {k: round(v) for k, v in sorted(stack.peak_rss_mb.items()) if k != "simulators (main)"},
            "summary": run.summary,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--limits", choices=("real", "off"), default="real")
    parser.add_argument("--marketo-workers", type=int, default=10)
    parser.add_argument("--latency-per-call", type=float, default=None, help="default: 0.5 s (real), 0 (off)")
    parser.add_argument("--latency-per-record", type=float, default=None, help="default: 2 ms (real), 0 (off)")
    args = parser.parse_args()
    real = args.limits == "real"
    per_call = args.latency_per_call if args.latency_per_call is not None else (0.5 if real else 0.0)
    per_record = args.latency_per_record if args.latency_per_record is not None else (0.002 if real else 0.0)
    result = measure(args.size, args.limits, args.marketo_workers, per_call, per_record)
    result["marketo_latency"] = {"per_call": per_call, "per_record": per_record}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"full_sync-{args.size}-{args.limits}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "summary"}, indent=2))


if __name__ == "__main__":
    main()
