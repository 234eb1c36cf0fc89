"""Write-back benchmark: API calls a pass costs at 10,000 and 1,000,000 synced people with 5 % of them changed.

    python -m benchmarks.writeback_calls                       # both sizes (about three minutes)
    python -m benchmarks.writeback_calls --sizes 10000 --json  # one size, machine-readable

A real write-back worker process (`celery -A worker worker -Q writeback`), Redis and a fresh
PostgreSQL database; both simulators run in this process so the benchmark can seed them
directly: N people in Salesforce (half Leads, half Contacts) and in Marketo (leads carrying
externalPersonId and MSI values), the id map, and the write-back's memory of what it last
wrote (equal to Marketo's values, as after earlier passes). A first pass finds nothing to write
(steady state); then 5 % of the people get new MSI values, each with its activity (half an
Interesting Moment, half a Change Score), and passes run until every change is in Salesforce.
Every call is counted from the simulators' request logs. Marketo's 20-second rate window is
shortened to one second on both sides so a pass takes seconds: that changes how long a pass
takes, not how many calls it makes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis
import sqlalchemy

REPO = Path(__file__).resolve().parents[1]
POSTGRES = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("BENCH_WRITEBACK_REDIS_URL", "redis://127.0.0.1:6379/8")
CHANGED = 0.05
MSI = (
    "msiLastInterestingMomentType",
    "msiLastInterestingMomentDate",
    "msiLastInterestingMomentDesc",
    "msiLastInterestingMomentSource",
    "priority",
    "relativeUrgency",
    "relativeScoring",
)


def msi_values(rng: random.Random, at: datetime) -> dict[str, Any]:
    return {
        "msiLastInterestingMomentType": rng.choice(("Email", "Web", "Milestone")),
        "msiLastInterestingMomentDate": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "msiLastInterestingMomentDesc": rng.choice(("Opened email: Q3 Newsletter", "Visited web page: /pricing")),
        "msiLastInterestingMomentSource": rng.choice(("Email", "Web", "Program")),
        "priority": rng.randint(0, 100),
        "relativeUrgency": rng.randint(0, 3),
        "relativeScoring": rng.randint(0, 3),
    }


@contextmanager
def fresh_database() -> Any:
    name = f"msi_bench_wb_{os.getpid()}_{int(time.time())}"
    admin = sqlalchemy.create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sqlalchemy.engine.make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)
    finally:
        from models.db import engine_for

        engine_for(
            sqlalchemy.engine.make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)
        ).dispose()
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def seed(size: int, salesforce: Any, marketo: Any, database_url: str) -> list[tuple[str, str, int]]:
    """N people in both systems, the id map, and the write-back's memory of what it last wrote."""
    from pipeline.writeback.fields import FieldSpec
    from pipeline.writeback.mapping import DEFAULT_FIELDS
    from pipeline.writeback.reading import salesforce_values

    org = salesforce.org
    specs = {
        name: FieldSpec(kind, length)
        for name, kind, length in (
            ("mkto_si__Last_Interesting_Moment_Type__c", "string", 255),
            ("mkto_si__Last_Interesting_Moment_Date__c", "datetime", 0),
            ("mkto_si__Last_Interesting_Moment_Desc__c", "textarea", 32000),
            ("mkto_si__Last_Interesting_Moment_Source__c", "string", 255),
            ("mkto_si__Priority__c", "double", 0),
            ("mkto_si__Urgency_Value__c", "double", 0),
            ("mkto_si__Relative_Score_Value__c", "double", 0),
        )
    }
    from pipeline.writeback.mapping import WritebackMapping

    mapping = WritebackMapping(tuple(DEFAULT_FIELDS.items()))
    rng = random.Random(size)
    now = datetime.now(UTC)
    people: list[tuple[str, str, int]] = []
    leads, contacts = org.tables["Lead"], org.tables["Contact"]
    with org.lock, marketo.store.lock:
        for n in range(size):
            sobject = "Lead" if n % 2 == 0 else "Contact"
            sf_id = org.new_id("00Q" if sobject == "Lead" else "003")
            row = {"Id": sf_id, "LastName": f"Person {n}", "IsDeleted": False}
            if sobject == "Lead":
                leads.new_row({**row, "Company": "Acme", "Status": "Open", "IsConverted": False})
            else:
                contacts.new_row(row)
            lead_id = n + 1
            marketo.store.leads.insert(
                {"id": lead_id, "externalPersonId": sf_id, **msi_values(rng, now - timedelta(days=rng.randint(1, 90)))}
            )
            people.append((sf_id, sobject, lead_id))
    from clients.sfids import to_18
    from models.db import session_scope
    from models.operations import Connection

    with session_scope(database_url) as session:  # the org the sync would have recorded
        session.add(Connection(org_id=to_18(org.org_id), environment="sandbox", instance_url=salesforce.url))
    engine = sqlalchemy.create_engine(database_url)
    with engine.begin() as connection:
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy("COPY id_map (object_type, sf_id, sobject, marketo_id, relink, sent_at) FROM STDIN") as copy:
            for sf_id, sobject, lead_id in people:
                copy.write_row(("leads", sf_id, sobject, str(lead_id), False, now.replace(tzinfo=None)))
        columns = "sf_id, sobject, marketo_id, values, values_hash, status, last_read_at, dirty"
        with cursor.copy(f"COPY writeback_state ({columns}) FROM STDIN") as copy:
            for sf_id, sobject, lead_id in people:
                values = salesforce_values(marketo.store.leads.get(lead_id), mapping, specs)
                read = now - timedelta(seconds=rng.randint(0, 86_400))
                copy.write_row(
                    (sf_id, sobject, str(lead_id), json.dumps(values), "", "ok", read.replace(tzinfo=None), False)
                )
    # What autovacuum does after a load this size (it is off on the test server): without
    # statistics the planner scans a million rows for every page of activities.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(sqlalchemy.text("ANALYZE id_map"))
        connection.execute(sqlalchemy.text("ANALYZE writeback_state"))
    engine.dispose()
    assert set(mapping.marketo_fields) == set(MSI)
    return people


def change(marketo: Any, people: list[tuple[str, str, int]]) -> int:
    """New MSI values for 5 % of the people, each with the activity MSI logs for it."""
    from simulators.marketo.msi import CHANGE_SCORE, INTERESTING_MOMENT

    rng = random.Random(len(people) + 1)
    chosen = rng.sample(people, round(CHANGED * len(people)))
    store = marketo.store
    with store.lock:
        for n, (_, _, lead_id) in enumerate(chosen):
            lead = store.leads.materialise(lead_id)
            old = dict(lead)
            while all(lead.get(f) == old.get(f) for f in MSI):
                lead.update(msi_values(rng, datetime.now(UTC)))
            kind = INTERESTING_MOMENT if n % 2 == 0 else CHANGE_SCORE
            store.activities.add(lead_id, kind, "Priority" if kind == CHANGE_SCORE else "Web", [], time.time())
    return len(chosen)


def run_pass(database_url: str) -> Any:
    from models.db import session_scope
    from models.runs import RUN_RUNNING, SyncRun
    from tasks.writeback import start_writeback

    answer = start_writeback.apply_async(kwargs={"trigger": "benchmark"}).get(timeout=120)
    run_id = int(answer["run"])
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        with session_scope(database_url) as session:
            run = session.get(SyncRun, run_id)
            if run is not None and run.status != RUN_RUNNING:
                return run
        time.sleep(0.2)
    raise RuntimeError(f"pass {run_id} did not end")


def measure_pass(database_url: str, salesforce: Any, marketo: Any) -> dict[str, Any]:
    sf_mark, mkto_mark = salesforce.log.last_seq, marketo.log.last_seq
    started = time.monotonic()
    run = run_pass(database_url)
    seconds = time.monotonic() - started
    assert run.status == "succeeded", run.error
    sf = [e for e in salesforce.log.since(sf_mark) if e.operation != "token"]
    mkto = [e for e in marketo.log.since(mkto_mark) if e.operation != "identity"]
    writes = [e for e in sf if e.operation == "composite_update"]
    written = sum(e.records for e in writes)
    summary = run.summary["writeback"]
    return {
        "seconds": round(seconds, 1),
        "people_read": summary["read"],
        "flagged_by_activities": summary["planned_flagged"],
        "written": written,
        "salesforce_write_calls": len(writes),
        "minimum_write_calls": math.ceil(written / 200),
        "salesforce_calls": dict(Counter(e.operation for e in sf)),
        "marketo_calls": len(mkto),
        "marketo_by_operation": dict(Counter(e.operation for e in mkto)),
        "marketo_budget_per_pass": summary["budget_calls"],
    }


def benchmark(size: int, workdir: Path) -> dict[str, Any]:
    from simulators.marketo import MarketoSimulator
    from simulators.salesforce import SalesforceSimulator

    salesforce = SalesforceSimulator(seed=1, size=0, tls_dir=workdir / "ca").start()
    marketo = MarketoSimulator(seed=1, window_seconds=1.0).start()
    worker: subprocess.Popen[bytes] | None = None
    try:
        with fresh_database() as database_url:
            env = {
                **salesforce.env(),
                "MARKETO_BASE_URL": marketo.url,
                "MARKETO_CLIENT_ID": marketo.config.client_id,
                "MARKETO_CLIENT_SECRET": marketo.config.client_secret,
                "REDIS_URL": REDIS,
                "DATABASE_URL": database_url,
                "MARKETO_RATE_WINDOW_SECONDS": "1.0",
                "LOG_LEVEL": "WARNING",
            }
            os.environ.update(env)
            from models.db import migrate
            from worker import context
            from worker.celery_app import reconfigure

            context.reset()
            reconfigure(context.settings())
            redis.Redis.from_url(REDIS).flushdb()
            migrate(database_url)
            started = time.monotonic()
            people = seed(size, salesforce, marketo, database_url)
            seeded = time.monotonic() - started
            log = open(workdir / f"worker-{size}.log", "wb")  # noqa: SIM115 - closed with the process
            worker = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "worker",
                    "worker",
                    "-Q",
                    "writeback",
                    "-c",
                    "4",
                    "-n",
                    f"wb{size}@%h",
                    "--loglevel",
                    "WARNING",
                    "--without-mingle",
                    "--without-gossip",
                ],
                cwd=REPO,
                env={**os.environ, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            steady = measure_pass(database_url, salesforce, marketo)
            changed = change(marketo, people)
            passes = []
            while len(passes) < 8:
                passes.append(measure_pass(database_url, salesforce, marketo))
                if sum(p["written"] for p in passes) >= changed:
                    break
            return {
                "people": size,
                "changed": changed,
                "seed_seconds": round(seeded, 1),
                "steady_pass": steady,
                "passes_after_change": passes,
            }
    finally:
        if worker is not None:
            os.killpg(worker.pid, 15)
            worker.wait(timeout=60)
        salesforce.stop()
        marketo.stop()


def print_result(result: dict[str, Any]) -> None:
    print(f"\n{result['people']:,} synced people, {result['changed']:,} changed (5 %)")
    steady = result["steady_pass"]
    print(
        f"  pass with no change: Marketo {steady['marketo_calls']} calls {steady['marketo_by_operation']}, "
        f"Salesforce {steady['salesforce_write_calls']} writes {steady['salesforce_calls']}, "
        f"{steady['people_read']:,} people read, {steady['seconds']} s"
    )
    print("  passes after the change:")
    print("    pass  flagged  read      written  SF writes  ceil(written/200)  Marketo calls (budget)  seconds")
    for n, p in enumerate(result["passes_after_change"], start=1):
        print(
            f"    {n:>4}  {p['flagged_by_activities']:>7,}  {p['people_read']:>7,}  {p['written']:>7,}  "
            f"{p['salesforce_write_calls']:>9}  {p['minimum_write_calls']:>17}  "
            f"{p['marketo_calls']:>5} ({p['marketo_budget_per_pass']})            {p['seconds']:>7}"
        )
        print(f"          Marketo: {p['marketo_by_operation']}  Salesforce: {p['salesforce_calls']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="msi-bench-wb-") as workdir:
        for size in args.sizes:
            results.append(benchmark(size, Path(workdir)))
            if not args.json:
                print_result(results[-1])
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
