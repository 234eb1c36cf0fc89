"""Marketo simulator: seeded marketing leads, lazily derived, at any size."""

from __future__ import annotations

import tracemalloc
from typing import Any

from simulators.marketo.generator import generate
from simulators.marketo.store import Store


def test_generation_is_deterministic_and_reversible() -> None:
    first, again, other = generate(5, 100), generate(5, 100), generate(6, 100)
    assert [first.get(i) for i in range(1, 101)] == [again.get(i) for i in range(1, 101)]
    assert first.get(1) != other.get(1)
    lead = first.get(42)
    assert lead is not None and "externalPersonId" not in lead
    assert first.find_email(lead["email"].upper()) == 42
    assert first.find_email("someone.else.2a@example.com") is None
    assert first.get(0) is None and first.get(101) is None


def test_a_million_leads_cost_almost_no_memory() -> None:
    tracemalloc.start()
    store = Store(seed=1, size=1_000_000)
    lead = store.leads.get(999_999)
    current, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(store.leads) == 1_000_000 and lead is not None
    assert store.leads.find("email", lead["email"]) == [999_999]
    assert current < 5_000_000


def test_seeded_leads_answer_queries_and_survive_writes(mkto: Any) -> None:
    seeded = mkto.sim.store.leads.get(5)
    by_email = mkto.get("/rest/v1/leads.json", filterType="email", filterValues=seeded["email"])["result"]
    assert [row["id"] for row in by_email] == [5]
    updated = mkto.sync("leads", [{"email": seeded["email"], "title": "Buyer"}])
    assert updated["result"] == [{"id": 5, "status": "updated"}]
    row = mkto.get("/rest/v1/leads.json", filterType="id", filterValues="5", fields="title,firstName")["result"][0]
    assert row == {"id": 5, "title": "Buyer", "firstName": seeded["firstName"]}
    assert mkto.sim.store.counts()["leads"] == 20
