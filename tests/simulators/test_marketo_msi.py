"""Marketo simulator: MSI field evolution and the activities API the write-back reads."""

from __future__ import annotations

from typing import Any

from simulators.marketo.schema import MSI_FIELDS
from simulators.marketo.store import Store


def _synced_store(seed: int) -> Store:
    store = Store(seed=seed, size=0)
    for i in range(40):
        store.leads.insert({"id": store.leads.new_id(), "externalPersonId": f"003{i:03d}"})
    return store


def _msi_values(store: Store) -> list[tuple[Any, ...]]:
    return [tuple(store.leads.get(i).get(f) for f in MSI_FIELDS) for i in store.leads.synced_ids()]  # type: ignore[union-attr]


def test_msi_evolution_repeats_for_a_seed_and_differs_between_seeds() -> None:
    one, same, other = _synced_store(1), _synced_store(1), _synced_store(2)
    for store in (one, same, other):
        store.advance_msi(3)
    strip_dates = lambda rows: [row[:1] + row[2:] for row in rows]  # noqa: E731 - dates are wall-clock
    assert strip_dates(_msi_values(one)) == strip_dates(_msi_values(same))
    assert strip_dates(_msi_values(one)) != strip_dates(_msi_values(other))


def test_nightly_recompute_changes_relative_scores_without_activities() -> None:
    store = _synced_store(3)
    store.advance_msi(3)
    before = {
        i: (store.leads.get(i).get("relativeUrgency"), store.leads.get(i).get("relativeScoring"))  # type: ignore[union-attr]
        for i in store.leads.synced_ids()
    }
    activities_before = len(store.activities)
    report = store.msi.advance(1)  # epoch 4: nightly
    nightly_only = len(store.activities) - activities_before - report["moments"] - report["score_changes"]
    after = {
        i: (store.leads.get(i).get("relativeUrgency"), store.leads.get(i).get("relativeScoring"))  # type: ignore[union-attr]
        for i in store.leads.synced_ids()
    }
    assert report["nightly_changes"] > 0 and nightly_only == 0
    assert sum(before[i] != after[i] for i in before) == report["nightly_changes"]
    assert all(value is None or 0 <= value <= 3 for pair in after.values() for value in pair)


def test_activity_types_include_interesting_moment_and_change_score(mkto: Any) -> None:
    types = {t["name"]: t["id"] for t in mkto.get("/rest/v1/activities/types.json")["result"]}
    assert types["Interesting Moment"] == 46 and types["Change Score"] == 22


def test_activities_page_300_at_a_time_from_a_paging_token(mkto: Any) -> None:
    mkto.sync("leads", [{"externalPersonId": f"003{i:03d}"} for i in range(300)], lookupField="externalPersonId")
    token = mkto.get("/rest/v1/activities/pagingtoken.json", sinceDatetime="2020-01-01T00:00:00Z")["nextPageToken"]
    report = mkto.post("/_sim/msi/advance", {"epochs": 6})
    expected = report["moments"] + report["score_changes"]
    seen: list[int] = []
    pages = 0
    while True:
        page = mkto.get("/rest/v1/activities.json", nextPageToken=token, activityTypeIds="46,22")
        seen += [a["id"] for a in page.get("result", [])]
        pages += 1
        token = page["nextPageToken"]
        if not page["moreResult"]:
            break
    assert len(seen) == expected == len(set(seen)) and pages == -(-expected // 300)
    later = mkto.get("/rest/v1/activities.json", nextPageToken=token, activityTypeIds="46,22")
    assert later["result"] == [] and later["moreResult"] is False


def test_activities_filter_by_lead_ids_and_types(mkto: Any) -> None:
    made = mkto.sync("leads", [{"externalPersonId": f"003{i}"} for i in range(10)], lookupField="externalPersonId")
    token = mkto.get("/rest/v1/activities/pagingtoken.json", sinceDatetime="2020-01-01")["nextPageToken"]
    mkto.sim.store.advance_msi(5)
    one = made["result"][0]["id"]
    rows = mkto.get("/rest/v1/activities.json", nextPageToken=token, activityTypeIds="22", leadIds=str(one))["result"]
    assert rows and all(row["leadId"] == one and row["activityTypeId"] == 22 for row in rows)
    assert {
        "id",
        "marketoGUID",
        "leadId",
        "activityDate",
        "activityTypeId",
        "primaryAttributeValue",
        "attributes",
    } <= set(rows[0])


def test_msi_epochs_tick_by_themselves_when_configured(marketo_sim_factory: Any) -> None:
    import time

    sim = marketo_sim_factory(msi_epoch_seconds=60, time_scale=300)  # an epoch every 0.2 s
    time.sleep(0.7)
    assert sim.store.msi.epoch >= 2
