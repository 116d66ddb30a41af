"""The SQL of ``sensor_state``: snapshots of a sensor's state, addressed by the token its cursor holds.

A snapshot is written once per distinct state (the token is a hash of the text, so an unchanged
tick writes nothing) and never updated in place: the tick Dagster commits points at its own
snapshot, and a tick Dagster never committed (daemon killed after the evaluation) leaves the
previous cursor pointing at the previous snapshot, still there. The newest ``KEEP`` snapshots
of a sensor are kept; older ones are deleted by the next write.

SQLAlchemy is imported inside each function that runs a query: every process loading the code
location imports this module, and only the steps and sensor ticks that query pay for the import.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlalchemy as sa

    from jwql_dagster.db.models import SensorState
    from jwql_dagster.db.resources import JwqlDatabase

# Snapshots kept per sensor: the committed one, plus room for ticks whose cursor Dagster did not
# commit and for a second evaluation of the same tick (two code servers).
KEEP = 10


def load_state(db: JwqlDatabase, sensor: str, token: str) -> str | None:
    """The state text saved under ``token``, or None when there is none (pruned, or another database)."""
    import sqlalchemy as sa
    from jwql_dagster.db.models import SensorState
    with db.session(readonly=True) as s:
        return s.scalar(sa.select(SensorState.state).where(SensorState.sensor == sensor, SensorState.token == token))


def save_state(db: JwqlDatabase, sensor: str, token: str, text: str, now: datetime) -> None:
    """Store ``text`` under ``token`` (a state seen before is only marked recent), then prune old snapshots."""
    import sqlalchemy as sa
    from jwql_dagster.db.models import SensorState
    with db.session() as s:
        db.upsert(s, SensorState, [{"sensor": sensor, "token": token, "saved_at": now, "state": text}],
                  ("sensor", "token"), update=("saved_at",))
        keep = (sa.select(SensorState.id).where(SensorState.sensor == sensor)
                .order_by(SensorState.saved_at.desc(), SensorState.id.desc()).limit(KEEP))
        s.execute(sa.delete(SensorState).where(SensorState.sensor == sensor, SensorState.id.not_in(keep)))


def snapshot_sizes(db: JwqlDatabase, sensor: str) -> list[int]:
    """Characters of each kept snapshot of ``sensor``, newest first (for benchmarks and the docs' figures)."""
    import sqlalchemy as sa
    from jwql_dagster.db.models import SensorState
    with db.session(readonly=True) as s:
        return [int(n) for n in s.scalars(sa.select(sa.func.length(SensorState.state))
                                          .where(SensorState.sensor == sensor)
                                          .order_by(SensorState.saved_at.desc(), SensorState.id.desc()))]
