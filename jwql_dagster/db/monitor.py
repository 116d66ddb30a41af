"""SQL of the monitoring group: the ``monitor`` run rows and the ``monitor_status`` snapshots.

Functions take the JwqlDatabase resource only for its ``session`` and ``upsert`` methods;
the type is imported for annotations alone, so this module runs without Dagster.

SQLAlchemy is imported inside each function that runs a query: every process loading the code
location imports this module, and only the steps and sensor ticks that query pay for the import.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Sequence

from jwql_dagster.monitoring.status import MonitorState, RunRecord

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    from jwql_dagster.db.models import Monitor, MonitorStatus
    from jwql_dagster.db.resources import JwqlDatabase

MONITOR_KEY = ("source", "monitor_name", "run_ref")
STATUS_KEY = ("snapshot_id", "monitor_name", "source")


def recorded_dagster_runs(db: JwqlDatabase, since: datetime) -> set[str]:
    """Run ids of Dagster runs already in ``monitor`` (started since ``since``, or with no start time)."""
    import sqlalchemy as sa
    from jwql_dagster.db.models import Monitor
    with db.session(readonly=True) as session:
        rows = session.execute(
            sa.select(Monitor.run_ref).where(Monitor.source == "dagster", sa.or_(Monitor.start_time >= since, Monitor.start_time.is_(None)))
        )
        return {r[0] for r in rows}


def _as_record(m: Monitor) -> RunRecord:
    return RunRecord(
        monitor_name=m.monitor_name,
        source=m.source,
        run_ref=m.run_ref,
        status=m.status,
        start_time=m.start_time,
        end_time=m.end_time,
        log_file=m.log_file,
        run_id=m.run_id,
        error_summary=m.error_summary,
    )


def load_monitor_records(session: Session, since: datetime) -> list[RunRecord]:
    """Monitor rows since ``since``, plus the latest rows of monitors that have gone quiet for longer."""
    import sqlalchemy as sa
    from jwql_dagster.db.models import Monitor
    # A run that failed before it started (launch error) has only an end time: place it there, as RunRecord.when does.
    when = sa.func.coalesce(Monitor.start_time, Monitor.end_time)
    recent = [_as_record(m) for m in session.scalars(sa.select(Monitor).where(when >= since))]
    seen = {(r.source, r.monitor_name) for r in recent}
    quiet = session.execute(sa.select(Monitor.source, Monitor.monitor_name).distinct()).all()
    for source, name in quiet:
        if (source, name) in seen:
            continue
        rows = session.scalars(
            sa.select(Monitor)
            .where(Monitor.source == source, Monitor.monitor_name == name)
            .order_by(when.desc().nulls_last())
            .limit(3)
        )
        recent.extend(_as_record(m) for m in rows)
    return recent


def record_runs(db: JwqlDatabase, records: Sequence[RunRecord]) -> int:
    """Upsert ``monitor`` rows (idempotent on source, monitor_name, run_ref)."""
    from jwql_dagster.db.models import Monitor
    if not records:
        return 0
    with db.session() as session:
        return db.upsert(session, Monitor, [r.as_row() for r in records], key=MONITOR_KEY)


def record_status(db: JwqlDatabase, session: Session, states: Sequence[MonitorState], snapshot_id: str, date: datetime) -> int:
    """Upsert one ``monitor_status`` snapshot (idempotent on snapshot, monitor and source)."""
    from jwql_dagster.db.models import MonitorStatus
    return db.upsert(session, MonitorStatus, [s.as_row(snapshot_id, date) for s in states], key=STATUS_KEY)


def _state_from_row(row: MonitorStatus, n_runs: int) -> MonitorState:
    return MonitorState(
        monitor_name=row.monitor_name,
        source=row.source,
        latest_file=row.latest_file,
        latest_time=row.latest_time,
        cadence_mean_s=row.cadence_mean_s or 0.0,
        cadence_std_s=row.cadence_std_s or 0.0,
        possibly_missing=bool(row.possibly_missing),
        status=row.status,
        n_runs=n_runs,
        overdue_s=0.0,
    )


def load_snapshot(db: JwqlDatabase, snapshot_id: str | None = None) -> tuple[str | None, datetime | None, list[MonitorState]]:
    """(id, date, states) of one monitor_status snapshot (the newest when ``snapshot_id`` is None)."""
    import sqlalchemy as sa
    from jwql_dagster.db.models import Monitor, MonitorStatus
    with db.session(readonly=True) as session:
        if snapshot_id is None:
            snapshot_id = session.scalar(sa.select(MonitorStatus.snapshot_id).order_by(MonitorStatus.date.desc(), MonitorStatus.id.desc()).limit(1))
        if snapshot_id is None:
            return None, None, []
        rows = list(session.scalars(sa.select(MonitorStatus).where(MonitorStatus.snapshot_id == snapshot_id)))
        counts = dict(
            ((s, n), c)
            for s, n, c in session.execute(sa.select(Monitor.source, Monitor.monitor_name, sa.func.count()).group_by(Monitor.source, Monitor.monitor_name))
        )
    states = [_state_from_row(r, counts.get((r.source, r.monitor_name), 0)) for r in rows]
    date = max((r.date for r in rows), default=None)
    return snapshot_id, date, sorted(states, key=lambda s: (s.source, s.monitor_name))
