"""A migrated database per test, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from models.db import migrate


@pytest.fixture
def db(database_url: str) -> str:
    migrate(database_url)
    return database_url
