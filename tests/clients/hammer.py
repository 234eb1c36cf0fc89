"""One process of the limiter hammer test: threads making Marketo calls through a real MarketoClient.

    python -m tests.clients.hammer BASE_URL REDIS_URL PREFIX THREADS CALLS WINDOW {shared|none} START_AT

With `shared`, the client's limiter is the Redis limiter every hammer process shares; with
`none`, nothing holds the calls back (what per-process limiters add up to across processes).
With the limiter, a Throttled call is waited out and tried again, as a Celery retry would. Every thread starts
at START_AT (epoch seconds) so that all processes press at once. Prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import threading
import time

import redis

from clients.errors import Throttled
from clients.limiter import Limiter, LimiterConfig, LocalLimiter
from clients.marketo import MarketoClient
from clients.redis_limiter import RedisLimiter
from clients.token_cache import RedisTokenCache


def main() -> None:
    base_url, redis_url, prefix, threads, calls, window, mode, start_at = sys.argv[1:9]
    client = redis.Redis.from_url(redis_url)
    limiter: Limiter
    if mode == "shared":
        config = LimiterConfig(
            marketo_calls_per_window=100, marketo_window_seconds=float(window), marketo_max_concurrency=10
        )
        limiter = RedisLimiter(client, config, prefix=f"{prefix}:limits")
    else:
        limiter = LocalLimiter(LimiterConfig(marketo_calls_per_window=10**6, marketo_max_concurrency=10**6))
    marketo = MarketoClient(
        base_url=base_url,
        client_id="msi-sync-demo",
        client_secret="demo-secret",
        limiter=limiter,
        token_cache=RedisTokenCache(client, prefix=f"{prefix}:token"),
        timeout=30.0,
    )
    counts = {"made": 0, "throttled": 0}
    lock = threading.Lock()

    def hammer() -> None:
        time.sleep(max(0.0, float(start_at) - time.time()))
        made = 0
        while made < int(calls):
            try:
                list(marketo.get("salespersons", "externalSalesPersonId", ["005A"]))
            except Throttled as wait:
                with lock:
                    counts["throttled"] += 1
                if mode == "shared":
                    time.sleep(wait.retry_after)
                    continue
                # Without the limiter the 606 or 615 came from Marketo itself: that is the point.
            made += 1
        with lock:
            counts["made"] += made

    workers = [threading.Thread(target=hammer) for _ in range(int(threads))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
