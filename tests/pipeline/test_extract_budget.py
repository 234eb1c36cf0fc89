"""An extract task reads a bounded amount: past its deadline it stops after a page, and the next task resumes."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select

from clients.salesforce import SalesforceClient
from models.db import session_scope
from models.runs import RunExtract
from pipeline import objects as o
from pipeline.extract import extract_some
from pipeline.mapping import MappingConfig
from pipeline.progress import start_run
from simulators.salesforce import SalesforceSimulator
from simulators.salesforce.generator import counts_for

SIZE = 7000  # 2,100 Leads: two pages of at most 2,000


def test_past_its_deadline_an_extract_stops_after_one_page_and_resumes_where_it_stopped(
    db: str,
    salesforce_sim_factory: Callable[..., SalesforceSimulator],
    salesforce_client_for: Callable[..., SalesforceClient],
) -> None:
    client = salesforce_client_for(salesforce_sim_factory(seed=5, size=SIZE), timeout=30.0)
    with session_scope(db) as session:
        run_id = start_run(session, object_types=[o.LEADS], full=True, trigger="test", overlap=timedelta(0)).id

    def read(deadline: float | None) -> str:
        progress = extract_some(
            db,
            run_id,
            "Lead",
            client,
            MappingConfig.load(None),
            delete_people=False,
            max_pages=25,
            lease=timedelta(seconds=60),
            deadline=deadline,
        )
        return progress.status

    assert read(deadline=time.monotonic()) == "more"
    with session_scope(db) as session:
        row = session.scalars(select(RunExtract).where(RunExtract.run_id == run_id, RunExtract.sobject == "Lead")).one()
        assert (row.pages, row.extracted, row.lease_until) == (1, 2000, None)  # given back for the next task
    assert read(deadline=None) == "done"
    with session_scope(db) as session:
        row = session.scalars(select(RunExtract).where(RunExtract.run_id == run_id, RunExtract.sobject == "Lead")).one()
        assert (row.pages, row.extracted) == (2, counts_for(SIZE)["Lead"])
