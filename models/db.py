"""Engines, sessions and schema migration for the configured database (SQLite or PostgreSQL)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

import models.operations
import models.records
import models.runs  # noqa: F401  (registers the tables on Base.metadata)
from models.base import Base

_MIGRATIONS = Path(__file__).with_name("migrations")
# Any constant works: it only has to be the same in every process that migrates.
_MIGRATION_LOCK_ID = 7_240_125
_migrate_lock = threading.Lock()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers go on while one writer commits; foreign keys are off by default.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _postgresql_plans(dbapi_connection: Any, _record: Any) -> None:
    # The driver prepares a statement after a few runs, and PostgreSQL then keeps a generic plan
    # for it on this pooled connection. The id-map and failures lookups (IN lists of hundreds of
    # ids) get that plan on the first pages of a full sync, while their tables are still empty:
    # it walks every row of the object type and builds the array of ids again for each one,
    # so each lookup slowed with every record sent (2 s at 120,000 leads). A plan made for the
    # actual values, each time, costs a millisecond.
    cursor = dbapi_connection.cursor()
    cursor.execute("SET plan_cache_mode = force_custom_plan")
    cursor.close()
    dbapi_connection.commit()


@functools.cache
def engine_for(url: str) -> Engine:
    """One engine (and pool) per database URL per process."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
    if parsed.get_backend_name() == "postgresql":
        event.listen(engine, "connect", _postgresql_plans)
    return engine


@functools.cache
def _session_factory(url: str) -> sessionmaker[Session]:
    return sessionmaker(bind=engine_for(url), expire_on_commit=False)


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A session that commits when the block ends normally and rolls back otherwise."""
    session = _session_factory(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str) -> None:
    """Bring the schema to the latest revision; safe when several processes start at once."""
    engine = engine_for(url)
    with _migrate_lock:
        if engine.dialect.name == "postgresql":
            with engine.connect() as connection:
                connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
                try:
                    config = alembic_config(url)
                    config.attributes["connection"] = connection
                    command.upgrade(config, "head")
                    connection.commit()
                finally:
                    connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _MIGRATION_LOCK_ID})
                    connection.commit()
        else:
            command.upgrade(alembic_config(url), "head")


def metadata() -> Any:
    return Base.metadata
