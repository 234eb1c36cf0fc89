"""write-back: per-person dirty flag, pending values, converted-lead redirect; activity cursor

Revision ID: 0002
Revises: 0003
Create Date: 2026-11-24 12:00:00.000000

Numbered 0002 as planned, but it comes after 0003 (committed first) so that the chain has one head.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.base


revision = '0002'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('writeback_state', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dirty', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('pending', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('written_to', sa.String(length=18), nullable=True))
        batch_op.add_column(sa.Column('status_at', models.base.UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_writeback_state_dirty'), ['dirty'], unique=False)
        batch_op.create_index(batch_op.f('ix_writeback_state_written_to'), ['written_to'], unique=False)
    # The default only filled existing rows; the model gives every new row its value.
    with op.batch_alter_table('writeback_state', schema=None) as batch_op:
        batch_op.alter_column('dirty', server_default=None)

    op.create_table('writeback_cursors',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('next_page_token', sa.Text(), nullable=True),
    sa.Column('type_ids', sa.JSON(), nullable=True),
    sa.Column('updated_at', models.base.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_writeback_cursors'))
    )


def downgrade() -> None:
    op.drop_table('writeback_cursors')
    with op.batch_alter_table('writeback_state', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_writeback_state_written_to'))
        batch_op.drop_index(batch_op.f('ix_writeback_state_dirty'))
        batch_op.drop_column('status_at')
        batch_op.drop_column('written_to')
        batch_op.drop_column('pending')
        batch_op.drop_column('dirty')
