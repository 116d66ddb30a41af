"""Initial schema: every jwql table of jwql_dagster.db.models.

Revision ID: 0001
Revises:
Create Date: 2026-11-25

Written out in full (not ``metadata.create_all``) so the schema of this revision never
changes when the models gain columns later; those come as new revisions.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Stored as naive UTC on SQLite and timestamptz on PostgreSQL (models.UTCDateTime converts).
UTC = sa.DateTime(timezone=True)

TABLES = ('central_storage', 'file_failures', 'files', 'filesystem_characteristics', 'filesystem_general', 'filesystem_instrument', 'mast_inventory', 'mast_keywords', 'monitor', 'monitor_status')


def upgrade() -> None:
    op.create_table('central_storage',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('snapshot_id', sa.String(length=64), nullable=False),
        sa.Column('date', UTC, nullable=False),
        sa.Column('area', sa.String(length=32), nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('used', sa.BigInteger(), nullable=False),
        sa.Column('available', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('snapshot_id', 'area', name='uq_central_storage_snapshot')
    )
    op.create_index('ix_central_storage_date', 'central_storage', ['date'])
    op.create_index('ix_central_storage_snapshot_id', 'central_storage', ['snapshot_id'])

    op.create_table('file_failures',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('filename', sa.String(length=255), nullable=False),
        sa.Column('product', sa.String(length=32), nullable=False),
        sa.Column('program', sa.String(length=16), nullable=True),
        sa.Column('instrument', sa.String(length=16), nullable=True),
        sa.Column('path', sa.Text(), nullable=True),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('error_type', sa.String(length=64), nullable=False),
        sa.Column('first_seen', UTC, nullable=False),
        sa.Column('last_seen', UTC, nullable=False),
        sa.Column('run_id', sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('filename', 'product', name='uq_file_failures_filename_product')
    )
    op.create_index('ix_file_failures_filename', 'file_failures', ['filename'])
    op.create_index('ix_file_failures_program', 'file_failures', ['program'])

    op.create_table('files',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('filename', sa.String(length=255), nullable=False),
        sa.Column('area', sa.String(length=16), nullable=False),
        sa.Column('path', sa.Text(), nullable=False),
        sa.Column('program', sa.String(length=16), nullable=False),
        sa.Column('instrument', sa.String(length=16), nullable=True),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('mtime', UTC, nullable=False),
        sa.Column('mtime_ns', sa.BigInteger(), nullable=False),
        sa.Column('filename_type', sa.String(length=32), nullable=True),
        sa.Column('observation', sa.String(length=8), nullable=True),
        sa.Column('visit', sa.String(length=8), nullable=True),
        sa.Column('visit_group', sa.String(length=8), nullable=True),
        sa.Column('parallel_seq_id', sa.String(length=4), nullable=True),
        sa.Column('activity', sa.String(length=4), nullable=True),
        sa.Column('exposure_id', sa.String(length=16), nullable=True),
        sa.Column('detector', sa.String(length=32), nullable=True),
        sa.Column('suffix', sa.String(length=32), nullable=True),
        sa.Column('ac_id', sa.String(length=16), nullable=True),
        sa.Column('file_root', sa.String(length=255), nullable=True),
        sa.Column('group_root', sa.String(length=255), nullable=True),
        sa.Column('exp_type', sa.String(length=32), nullable=True),
        sa.Column('filter', sa.String(length=32), nullable=True),
        sa.Column('pupil', sa.String(length=32), nullable=True),
        sa.Column('subarray', sa.String(length=32), nullable=True),
        sa.Column('nints', sa.Integer(), nullable=True),
        sa.Column('ngroups', sa.Integer(), nullable=True),
        sa.Column('date_obs', sa.String(length=32), nullable=True),
        sa.Column('header', sa.JSON(), nullable=True),
        sa.Column('first_seen', UTC, nullable=False),
        sa.Column('last_seen', UTC, nullable=False),
        sa.Column('deleted_at', UTC, nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('filename')
    )
    op.create_index('ix_files_instrument', 'files', ['instrument'])
    op.create_index('ix_files_program', 'files', ['program'])
    op.create_index('ix_files_suffix', 'files', ['suffix'])

    op.create_table('filesystem_characteristics',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('snapshot_id', sa.String(length=64), nullable=False),
        sa.Column('date', UTC, nullable=False),
        sa.Column('instrument', sa.String(length=16), nullable=False),
        sa.Column('filter_pupil', sa.JSON(), nullable=False),
        sa.Column('obs_per_filter_pupil', sa.JSON(), nullable=False),
        sa.Column('note', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('snapshot_id', 'instrument', name='uq_filesystem_characteristics_snapshot')
    )
    op.create_index('ix_filesystem_characteristics_date', 'filesystem_characteristics', ['date'])
    op.create_index('ix_filesystem_characteristics_snapshot_id', 'filesystem_characteristics', ['snapshot_id'])

    op.create_table('filesystem_general',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('snapshot_id', sa.String(length=64), nullable=False),
        sa.Column('date', UTC, nullable=False),
        sa.Column('total_file_count', sa.BigInteger(), nullable=False),
        sa.Column('total_file_size', sa.BigInteger(), nullable=False),
        sa.Column('fits_file_count', sa.BigInteger(), nullable=False),
        sa.Column('fits_file_size', sa.BigInteger(), nullable=False),
        sa.Column('used', sa.BigInteger(), nullable=False),
        sa.Column('available', sa.BigInteger(), nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('snapshot_id')
    )
    op.create_index('ix_filesystem_general_date', 'filesystem_general', ['date'])

    op.create_table('filesystem_instrument',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('snapshot_id', sa.String(length=64), nullable=False),
        sa.Column('date', UTC, nullable=False),
        sa.Column('instrument', sa.String(length=16), nullable=False),
        sa.Column('filetype', sa.String(length=32), nullable=False),
        sa.Column('count', sa.BigInteger(), nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('snapshot_id', 'instrument', 'filetype', name='uq_filesystem_instrument_snapshot')
    )
    op.create_index('ix_filesystem_instrument_date', 'filesystem_instrument', ['date'])
    op.create_index('ix_filesystem_instrument_snapshot_id', 'filesystem_instrument', ['snapshot_id'])

    op.create_table('mast_inventory',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('snapshot_id', sa.String(length=64), nullable=False),
        sa.Column('date', UTC, nullable=False),
        sa.Column('instrument', sa.String(length=16), nullable=False),
        sa.Column('service', sa.String(length=64), nullable=False),
        sa.Column('dataproduct', sa.String(length=32), nullable=False),
        sa.Column('count', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('snapshot_id', 'instrument', 'service', 'dataproduct', name='uq_mast_inventory_snapshot')
    )
    op.create_index('ix_mast_inventory_date', 'mast_inventory', ['date'])
    op.create_index('ix_mast_inventory_snapshot_id', 'mast_inventory', ['snapshot_id'])

    op.create_table('mast_keywords',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('snapshot_id', sa.String(length=64), nullable=False),
        sa.Column('date', UTC, nullable=False),
        sa.Column('instrument', sa.String(length=16), nullable=False),
        sa.Column('service', sa.String(length=64), nullable=False),
        sa.Column('keyword', sa.String(length=128), nullable=False),
        sa.Column('dtype', sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('snapshot_id', 'instrument', 'service', 'keyword', name='uq_mast_keywords_snapshot')
    )
    op.create_index('ix_mast_keywords_date', 'mast_keywords', ['date'])
    op.create_index('ix_mast_keywords_snapshot_id', 'mast_keywords', ['snapshot_id'])

    op.create_table('monitor',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('monitor_name', sa.String(length=128), nullable=False),
        sa.Column('start_time', UTC, nullable=True),
        sa.Column('end_time', UTC, nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('log_file', sa.Text(), nullable=True),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('run_id', sa.String(length=64), nullable=True),
        sa.Column('run_ref', sa.String(length=512), nullable=False),
        sa.Column('error_summary', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('source', 'monitor_name', 'run_ref', name='uq_monitor_run')
    )
    op.create_index('ix_monitor_monitor_name', 'monitor', ['monitor_name'])

    op.create_table('monitor_status',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('snapshot_id', sa.String(length=64), nullable=False),
        sa.Column('date', UTC, nullable=False),
        sa.Column('monitor_name', sa.String(length=128), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('latest_file', sa.Text(), nullable=True),
        sa.Column('latest_time', UTC, nullable=True),
        sa.Column('cadence_mean_s', sa.Float(), nullable=True),
        sa.Column('cadence_std_s', sa.Float(), nullable=True),
        sa.Column('possibly_missing', sa.Boolean(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('snapshot_id', 'monitor_name', 'source', name='uq_monitor_status_snapshot')
    )
    op.create_index('ix_monitor_status_date', 'monitor_status', ['date'])
    op.create_index('ix_monitor_status_snapshot_id', 'monitor_status', ['snapshot_id'])


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
