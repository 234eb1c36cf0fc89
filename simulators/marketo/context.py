"""Everything one running simulator shares between its WSGI app, control API and facade."""

from __future__ import annotations

from dataclasses import dataclass

from simulators.common.faults import FaultPlan
from simulators.common.requestlog import RequestLog
from simulators.marketo.auth import Identity
from simulators.marketo.config import SimConfig
from simulators.marketo.limits import Limits
from simulators.marketo.store import Store


@dataclass
class SimContext:
    config: SimConfig
    store: Store
    limits: Limits
    identity: Identity
    log: RequestLog
    faults: FaultPlan  # replaced as a whole by PUT /_sim/faults or the facade
