"""Host the simulators for a benchmark, each in its own process; print their settings as one JSON line, then serve.

Marketo runs in a child process of its own: Salesforce's simulator answers pages of 2,000
records over TLS, and in one Python process with Marketo's it would hold the interpreter
while Marketo's calls wait to be read. Marketo would then count calls later than they were
sent (a real Marketo counts them as they arrive, whatever Salesforce is doing) and its rate
window would show bunches no client sent.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import threading
from typing import Any

from simulators.marketo import MarketoSimulator
from simulators.salesforce import SalesforceSimulator


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--limits", choices=("real", "off"), default="real")
    parser.add_argument("--latency-per-call", type=float, default=0.5)
    parser.add_argument("--latency-per-record", type=float, default=0.002)
    parser.add_argument("--sf-latency-per-call", type=float, default=0.05)
    parser.add_argument("--time-scale", type=float, default=1.0, help="Marketo's clock runs this much faster")
    parser.add_argument("--tls-dir", required=True)
    parser.add_argument("--marketo-only", action="store_true", help="(internal) serve Marketo alone")
    return parser.parse_args()


def _marketo(args: argparse.Namespace) -> MarketoSimulator:
    limits: dict[str, Any] = {}
    if args.limits == "off":
        # Far above anything the pipeline can do: what is measured is the pipeline itself.
        limits = {"calls_per_window": 10**9, "max_concurrency": 10**6, "daily_quota": 10**9}
    return MarketoSimulator(
        seed=args.seed,
        latency_per_call=args.latency_per_call,
        latency_per_record=args.latency_per_record,
        time_scale=args.time_scale,
        **limits,
    ).start()


def _marketo_process() -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    """This script again, serving Marketo alone; its settings are its first line."""
    child = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.simhost", *sys.argv[1:], "--marketo-only"], stdout=subprocess.PIPE
    )
    assert child.stdout is not None
    return child, json.loads(child.stdout.readline())


def _serve_until_stopped() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()


def main() -> None:
    args = _arguments()
    if args.marketo_only:
        marketo = _marketo(args)
        env = {
            "MARKETO_BASE_URL": marketo.url,
            "MARKETO_CLIENT_ID": marketo.config.client_id,
            "MARKETO_CLIENT_SECRET": marketo.config.client_secret,
        }
        print(json.dumps(env), flush=True)
        _serve_until_stopped()
        marketo.stop()
        sys.exit(0)
    child, marketo_env = _marketo_process()
    salesforce = SalesforceSimulator(
        seed=args.seed,
        size=args.size,
        tls_dir=args.tls_dir,
        latency_per_call=args.sf_latency_per_call,
        api_limit=10_000_000,
    ).start()
    print(json.dumps({**salesforce.env(), **marketo_env}), flush=True)
    _serve_until_stopped()
    salesforce.stop()
    child.terminate()
    child.wait(timeout=30)
    sys.exit(0)


if __name__ == "__main__":
    main()
