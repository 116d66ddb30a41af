"""sensor_state: the new_fits_files sensor's state, out of the per-tick Dagster cursor.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Stored as naive UTC on SQLite and timestamptz on PostgreSQL (models.UTCDateTime converts).
UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table('sensor_state',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('sensor', sa.String(length=64), nullable=False),
        sa.Column('token', sa.String(length=64), nullable=False),
        sa.Column('saved_at', UTC, nullable=False),
        sa.Column('state', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('sensor', 'token', name='uq_sensor_state_token')
    )
    op.create_index('ix_sensor_state_saved_at', 'sensor_state', ['saved_at'])


def downgrade() -> None:
    op.drop_table('sensor_state')
