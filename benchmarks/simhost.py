"""Host both simulators in one process for a benchmark; print their settings as one JSON line, then serve."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from simulators.marketo import MarketoSimulator
from simulators.salesforce import SalesforceSimulator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--limits", choices=("real", "off"), default="real")
    parser.add_argument("--latency-per-call", type=float, default=0.5)
    parser.add_argument("--latency-per-record", type=float, default=0.002)
    parser.add_argument("--sf-latency-per-call", type=float, default=0.05)
    parser.add_argument("--time-scale", type=float, default=1.0, help="Marketo's clock runs this much faster")
    parser.add_argument("--tls-dir", required=True)
    args = parser.parse_args()

    salesforce = SalesforceSimulator(
        seed=args.seed,
        size=args.size,
        tls_dir=args.tls_dir,
        latency_per_call=args.sf_latency_per_call,
        api_limit=10_000_000,
    ).start()
    marketo_limits = {}
    if args.limits == "off":
        # Far above anything the pipeline can do: what is measured is the pipeline itself.
        marketo_limits = {"calls_per_window": 10**9, "max_concurrency": 10**6, "daily_quota": 10**9}
    marketo = MarketoSimulator(
        seed=args.seed,
        latency_per_call=args.latency_per_call,
        latency_per_record=args.latency_per_record,
        time_scale=args.time_scale,
        **marketo_limits,
    ).start()
    env = {
        **salesforce.env(),
        "MARKETO_BASE_URL": marketo.url,
        "MARKETO_CLIENT_ID": marketo.config.client_id,
        "MARKETO_CLIENT_SECRET": marketo.config.client_secret,
    }
    print(json.dumps(env), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    salesforce.stop()
    marketo.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
