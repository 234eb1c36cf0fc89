"""The migrations build exactly the schema the models describe, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from models.db import engine_for, metadata, migrate, session_scope
from models.runs import RUN_RUNNING, SyncRun


def test_migrated_schema_matches_the_models(database_url: str) -> None:
    migrate(database_url)
    with engine_for(database_url).connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata()) == []


def test_migrating_twice_is_harmless(database_url: str) -> None:
    migrate(database_url)
    migrate(database_url)


def test_only_one_running_run_of_a_kind(database_url: str) -> None:
    migrate(database_url)
    with session_scope(database_url) as session:
        session.add(SyncRun(kind="sync", status=RUN_RUNNING))
    with pytest.raises(sqlalchemy.exc.IntegrityError), session_scope(database_url) as session:
        session.add(SyncRun(kind="sync", status=RUN_RUNNING))
    with session_scope(database_url) as session:
        session.add(SyncRun(kind="writeback", status=RUN_RUNNING))
        session.add(SyncRun(kind="sync", status="succeeded"))


def test_datetimes_come_back_as_utc(database_url: str) -> None:
    migrate(database_url)
    moment = datetime(2026, 1, 2, 3, 4, 5, 123000, tzinfo=UTC)
    with session_scope(database_url) as session:
        run = SyncRun(started_at=moment)
        session.add(run)
        session.flush()
        run_id = run.id
    with session_scope(database_url) as session:
        assert session.get(SyncRun, run_id).started_at == moment  # type: ignore[union-attr]
