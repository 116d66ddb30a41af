"""SQLAlchemy 2 models of every jwql table (the schema is designed once; Alembic creates it).

Names follow jwql where it had them, with these deliberate changes: sizes are bytes
(BigInteger) rather than TB floats, instrument and filetype are strings so an
``unrecognized`` bucket fits, lists are JSON (SQLite has no ARRAY), timestamps are
UTC, and every history table carries ``snapshot_id`` (the Dagster root run id) with
a unique key so a retried run rewrites the same rows instead of adding more.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(sa.types.TypeDecorator):
    """Stores naive UTC, returns timezone-aware UTC (SQLite keeps no zone; PostgreSQL gets timestamptz)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Optional[datetime], dialect: sa.Dialect) -> Optional[datetime]:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Optional[datetime], dialect: sa.Dialect) -> Optional[datetime]:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: sa.JSON(), list[Any]: sa.JSON()}


metadata = Base.metadata


class File(Base):
    """One FITS file of the archive, identified by its file name (it may move proprietary -> public)."""

    __tablename__ = "files"
    id: Mapped[int] = mapped_column(primary_key=True)
    filename: Mapped[str] = mapped_column(sa.String(255), unique=True)
    area: Mapped[str] = mapped_column(sa.String(16))  # public | proprietary
    path: Mapped[str] = mapped_column(sa.Text)
    program: Mapped[str] = mapped_column(sa.String(16), index=True)
    instrument: Mapped[Optional[str]] = mapped_column(sa.String(16), index=True)
    size: Mapped[int] = mapped_column(sa.BigInteger)
    mtime: Mapped[datetime]
    mtime_ns: Mapped[int] = mapped_column(sa.BigInteger)
    # parsed name fields (core/filenames.py)
    filename_type: Mapped[Optional[str]] = mapped_column(sa.String(32))
    observation: Mapped[Optional[str]] = mapped_column(sa.String(8))
    visit: Mapped[Optional[str]] = mapped_column(sa.String(8))
    visit_group: Mapped[Optional[str]] = mapped_column(sa.String(8))
    parallel_seq_id: Mapped[Optional[str]] = mapped_column(sa.String(4))
    activity: Mapped[Optional[str]] = mapped_column(sa.String(4))
    exposure_id: Mapped[Optional[str]] = mapped_column(sa.String(16))
    detector: Mapped[Optional[str]] = mapped_column(sa.String(32))
    suffix: Mapped[Optional[str]] = mapped_column(sa.String(32), index=True)
    ac_id: Mapped[Optional[str]] = mapped_column(sa.String(16))
    file_root: Mapped[Optional[str]] = mapped_column(sa.String(255))
    group_root: Mapped[Optional[str]] = mapped_column(sa.String(255))
    # key header values
    exp_type: Mapped[Optional[str]] = mapped_column(sa.String(32))
    filter: Mapped[Optional[str]] = mapped_column(sa.String(32))
    pupil: Mapped[Optional[str]] = mapped_column(sa.String(32))
    subarray: Mapped[Optional[str]] = mapped_column(sa.String(32))
    nints: Mapped[Optional[int]]
    ngroups: Mapped[Optional[int]]
    date_obs: Mapped[Optional[str]] = mapped_column(sa.String(32))
    header: Mapped[Optional[dict[str, Any]]]  # other header values worth keeping
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[Optional[datetime]]


class FileFailure(Base):
    """A file that could not be turned into a product, with the reason; one row per (file, product)."""

    __tablename__ = "file_failures"
    __table_args__ = (sa.UniqueConstraint("filename", "product", name="uq_file_failures_filename_product"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    filename: Mapped[str] = mapped_column(sa.String(255), index=True)
    product: Mapped[str] = mapped_column(sa.String(32))  # archive_files | preview_images | thumbnails | mosaic ...
    program: Mapped[Optional[str]] = mapped_column(sa.String(16), index=True)
    instrument: Mapped[Optional[str]] = mapped_column(sa.String(16))  # NULL for unrecognised names
    path: Mapped[Optional[str]] = mapped_column(sa.Text)
    reason: Mapped[str] = mapped_column(sa.Text)
    error_type: Mapped[str] = mapped_column(sa.String(64))
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)
    run_id: Mapped[Optional[str]] = mapped_column(sa.String(64))


class FilesystemGeneral(Base):
    """Archive totals per snapshot (jwql filesystem_general; bytes, not TB)."""

    __tablename__ = "filesystem_general"
    id: Mapped[int] = mapped_column(primary_key=True)
    snapshot_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    date: Mapped[datetime] = mapped_column(index=True)
    total_file_count: Mapped[int] = mapped_column(sa.BigInteger)
    total_file_size: Mapped[int] = mapped_column(sa.BigInteger)
    fits_file_count: Mapped[int] = mapped_column(sa.BigInteger)
    fits_file_size: Mapped[int] = mapped_column(sa.BigInteger)
    used: Mapped[int] = mapped_column(sa.BigInteger)
    available: Mapped[int] = mapped_column(sa.BigInteger)
    size: Mapped[Optional[int]] = mapped_column(sa.BigInteger)


class FilesystemInstrument(Base):
    """Files and bytes per instrument x filetype (suffix) per snapshot."""

    __tablename__ = "filesystem_instrument"
    __table_args__ = (
        sa.UniqueConstraint("snapshot_id", "instrument", "filetype", name="uq_filesystem_instrument_snapshot"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    snapshot_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    date: Mapped[datetime] = mapped_column(index=True)
    instrument: Mapped[str] = mapped_column(sa.String(16))
    filetype: Mapped[str] = mapped_column(sa.String(32))
    count: Mapped[int] = mapped_column(sa.BigInteger)
    size: Mapped[int] = mapped_column(sa.BigInteger)


class CentralStorage(Base):
    """Size/used/available of each central-storage area per snapshot."""

    __tablename__ = "central_storage"
    __table_args__ = (sa.UniqueConstraint("snapshot_id", "area", name="uq_central_storage_snapshot"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    snapshot_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    date: Mapped[datetime] = mapped_column(index=True)
    area: Mapped[str] = mapped_column(sa.String(32))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    used: Mapped[int] = mapped_column(sa.BigInteger)
    available: Mapped[int] = mapped_column(sa.BigInteger)


class FilesystemCharacteristics(Base):
    """Filter/pupil combinations and observations per combination, per instrument and snapshot."""

    __tablename__ = "filesystem_characteristics"
    __table_args__ = (
        sa.UniqueConstraint("snapshot_id", "instrument", name="uq_filesystem_characteristics_snapshot"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    snapshot_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    date: Mapped[datetime] = mapped_column(index=True)
    instrument: Mapped[str] = mapped_column(sa.String(16))
    filter_pupil: Mapped[list[Any]]
    obs_per_filter_pupil: Mapped[list[Any]]
    note: Mapped[Optional[str]] = mapped_column(sa.Text)  # e.g. "not applicable" for FGS


class MastInventory(Base):
    """File counts per instrument, service (JWST or CAOM) and dataproduct, per snapshot."""

    __tablename__ = "mast_inventory"
    __table_args__ = (
        sa.UniqueConstraint("snapshot_id", "instrument", "service", "dataproduct", name="uq_mast_inventory_snapshot"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    snapshot_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    date: Mapped[datetime] = mapped_column(index=True)
    instrument: Mapped[str] = mapped_column(sa.String(16))
    service: Mapped[str] = mapped_column(sa.String(64))
    dataproduct: Mapped[str] = mapped_column(sa.String(32))
    count: Mapped[int] = mapped_column(sa.BigInteger)


class MastKeyword(Base):
    """The keyword (column) list of a MAST service for an instrument, per snapshot."""

    __tablename__ = "mast_keywords"
    __table_args__ = (
        sa.UniqueConstraint("snapshot_id", "instrument", "service", "keyword", name="uq_mast_keywords_snapshot"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    snapshot_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    date: Mapped[datetime] = mapped_column(index=True)
    instrument: Mapped[str] = mapped_column(sa.String(16))
    service: Mapped[str] = mapped_column(sa.String(64))
    keyword: Mapped[str] = mapped_column(sa.String(128))
    dtype: Mapped[str] = mapped_column(sa.String(32))


class Monitor(Base):
    """One run of one monitor (jwql's monitor table): a Dagster asset group's run or a legacy cron log."""

    __tablename__ = "monitor"
    __table_args__ = (sa.UniqueConstraint("source", "monitor_name", "run_ref", name="uq_monitor_run"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    monitor_name: Mapped[str] = mapped_column(sa.String(128), index=True)
    start_time: Mapped[Optional[datetime]]
    end_time: Mapped[Optional[datetime]]
    status: Mapped[str] = mapped_column(sa.String(16))  # SUCCESS | FAILURE
    log_file: Mapped[Optional[str]] = mapped_column(sa.Text)
    source: Mapped[str] = mapped_column(sa.String(16))  # dagster | legacy
    run_id: Mapped[Optional[str]] = mapped_column(sa.String(64))
    run_ref: Mapped[str] = mapped_column(sa.String(512))  # run_id for dagster, log file path for legacy
    error_summary: Mapped[Optional[str]] = mapped_column(sa.Text)


class MonitorStatus(Base):
    """Per-snapshot status of every monitor: latest run, cadence, possibly-missing flag, status."""

    __tablename__ = "monitor_status"
    __table_args__ = (
        sa.UniqueConstraint("snapshot_id", "monitor_name", "source", name="uq_monitor_status_snapshot"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    snapshot_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    date: Mapped[datetime] = mapped_column(index=True)
    monitor_name: Mapped[str] = mapped_column(sa.String(128))
    source: Mapped[str] = mapped_column(sa.String(16))
    latest_file: Mapped[Optional[str]] = mapped_column(sa.Text)
    latest_time: Mapped[Optional[datetime]]
    cadence_mean_s: Mapped[Optional[float]]
    cadence_std_s: Mapped[Optional[float]]
    possibly_missing: Mapped[bool]
    status: Mapped[str] = mapped_column(sa.String(16))


class SensorState(Base):
    """A snapshot of a sensor's state between ticks (the new_fits_files folder tree, pending and in-flight files).

    Kept here rather than in the Dagster cursor, which Dagster stores with every tick: the cursor
    holds only the snapshot's ``token`` (a hash of its text), so identical states are one row and
    a tick whose cursor Dagster never committed still finds the state it started from.
    """

    __tablename__ = "sensor_state"
    __table_args__ = (sa.UniqueConstraint("sensor", "token", name="uq_sensor_state_token"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    sensor: Mapped[str] = mapped_column(sa.String(64))
    token: Mapped[str] = mapped_column(sa.String(64))
    saved_at: Mapped[datetime] = mapped_column(index=True)
    state: Mapped[str] = mapped_column(sa.Text)
