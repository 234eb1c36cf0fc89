"""Engines: what every PostgreSQL connection of the service is set up with."""

from __future__ import annotations

import sqlalchemy

from models.db import engine_for


def test_postgresql_plans_each_statement_for_its_values(postgres_url: str) -> None:
    """No generic plan cached on a pooled connection while a table was still empty."""
    with engine_for(postgres_url).connect() as connection:
        assert connection.execute(sqlalchemy.text("SHOW plan_cache_mode")).scalar() == "force_custom_plan"
