"""ops: one active connection at a time; when connect last verified it

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-24 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.base


revision = '0003'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('connections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('checked_at', models.base.UTCDateTime(), nullable=True))
        batch_op.create_index(
            'uq_connections_one_active',
            ['active'],
            unique=True,
            sqlite_where=sa.text('active'),
            postgresql_where=sa.text('active'),
        )


def downgrade() -> None:
    with op.batch_alter_table('connections', schema=None) as batch_op:
        batch_op.drop_index('uq_connections_one_active')
        batch_op.drop_column('checked_at')
