"""Alembic environment: runs migrations on the connection or URL handed over by models.db."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from models.db import metadata

config = context.config
target_metadata = metadata()


def run_on(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


given = config.attributes.get("connection")
if given is not None:
    run_on(given)
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as connection:
        run_on(connection)
    engine.dispose()
