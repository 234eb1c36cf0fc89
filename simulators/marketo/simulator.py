"""MarketoSimulator: one simulated Marketo instance served over real HTTP(S), for tests, demo and benchmarks."""

from __future__ import annotations

import threading
from pathlib import Path

from simulators.common.faults import FaultPlan
from simulators.common.requestlog import RequestLog
from simulators.common.server import SimServer
from simulators.common.tls import make_tls
from simulators.marketo.app import MarketoApp
from simulators.marketo.auth import Identity
from simulators.marketo.config import SimConfig
from simulators.marketo.context import SimContext
from simulators.marketo.limits import Limits
from simulators.marketo.store import Store


class MarketoSimulator:
    """Marketo's REST API with its envelopes, codes and limits.

    ``sim = MarketoSimulator(seed=1, size=1000).start()``; point clients at ``sim.url``
    (``MARKETO_BASE_URL``); ``sim.store``, ``sim.log`` and ``sim.faults`` give in-process access;
    ``sim.stop()`` ends it. With ``msi_epoch_seconds`` set, MSI fields move by themselves every
    that many (scaled) seconds; otherwise only through ``sim.store.advance_msi(n)`` or
    ``POST /_sim/msi/advance``.
    """

    def __init__(
        self,
        seed: int = 0,
        size: int = 0,
        *,
        client_id: str = "msi-sync-demo",
        client_secret: str = "demo-secret",  # noqa: S107 - the simulator's published demo credential
        daily_quota: int = 50_000,
        calls_per_window: int = 100,
        window_seconds: float = 20.0,
        max_concurrency: int = 10,
        time_scale: float = 1.0,
        latency_per_call: float = 0.0,
        latency_per_record: float = 0.0,
        token_lifetime: float = 3600.0,
        msi_epoch_seconds: float | None = None,
        tls: bool = False,
        tls_dir: Path | str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultPlan | None = None,
    ) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.config = SimConfig(
            client_id=client_id,
            client_secret=client_secret,
            daily_quota=daily_quota,
            calls_per_window=calls_per_window,
            window_seconds=window_seconds,
            max_concurrency=max_concurrency,
            time_scale=time_scale,
            latency_per_call=latency_per_call,
            latency_per_record=latency_per_record,
            token_lifetime=token_lifetime,
            msi_epoch_seconds=msi_epoch_seconds,
        )
        self.ctx = SimContext(
            config=self.config,
            store=Store(seed=seed, size=size),
            limits=Limits(self.config),
            identity=Identity(self.config),
            log=RequestLog(),
            faults=faults or FaultPlan(),
        )
        self._tls = make_tls(Path(tls_dir) if tls_dir else None) if tls else None
        self._host, self._port = host, port
        self._server: SimServer | None = None
        self._ticker: threading.Thread | None = None
        self._stopping = threading.Event()

    # --- in-process access ---------------------------------------------------------------
    @property
    def store(self) -> Store:
        return self.ctx.store

    @property
    def log(self) -> RequestLog:
        return self.ctx.log

    @property
    def faults(self) -> FaultPlan:
        return self.ctx.faults

    @faults.setter
    def faults(self, plan: FaultPlan) -> None:
        self.ctx.faults = plan

    @property
    def limits(self) -> Limits:
        return self.ctx.limits

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        return self._server.url

    @property
    def ca_bundle(self) -> Path | None:
        return self._tls.ca_bundle if self._tls else None

    # --- life cycle ------------------------------------------------------------------------
    def start(self) -> MarketoSimulator:
        self._server = SimServer(MarketoApp(self.ctx), host=self._host, port=self._port, tls=self._tls).start()
        self._ticker = threading.Thread(target=self._tick, name="marketo-sim-msi", daemon=True)
        self._ticker.start()
        return self

    def reset(self) -> None:
        """Back to the seeded start: data, counters, request log and faults (tokens stay valid)."""
        self.ctx.store.reset()
        self.ctx.limits.reset()
        self.ctx.log.clear()
        self.ctx.faults = FaultPlan()

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.stop()
        if self._ticker is not None:
            self._ticker.join(timeout=5)

    def __enter__(self) -> MarketoSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _tick(self) -> None:
        """Advance MSI one epoch every msi_epoch_seconds (scaled); re-reads the config each time."""
        while not self._stopping.is_set():
            epoch = self.config.msi_epoch_seconds
            if epoch is None:
                self._stopping.wait(0.2)
                continue
            if self._stopping.wait(self.config.scaled(epoch)):
                return
            self.store.advance_msi(1)
