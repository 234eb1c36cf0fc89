"""staging indexes: unchunked records by staging order; records by chunk

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None

UNCHUNKED = sa.text("chunk_id IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("staged_records", schema=None) as batch_op:
        batch_op.drop_index("ix_staged_unchunked")
        batch_op.create_index(
            "ix_staged_unchunked",
            ["run_id", "step", "lookup", "id"],
            unique=False,
            sqlite_where=UNCHUNKED,
            postgresql_where=UNCHUNKED,
        )
        batch_op.create_index("ix_staged_records_chunk_id", ["chunk_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("staged_records", schema=None) as batch_op:
        batch_op.drop_index("ix_staged_records_chunk_id")
        batch_op.drop_index("ix_staged_unchunked")
        batch_op.create_index("ix_staged_unchunked", ["run_id", "step", "lookup", "chunk_id"], unique=False)
