"""jwql's cron-job monitor logic: latest run, cadence, possibly-missing flag and status per monitor.

A monitor is anything that runs repeatedly and leaves a record of each run: a Dagster
asset group (one record per run touching it) or a legacy jwql cron log folder (one
record per log file). The rules are jwql's ``monitor_cron_jobs`` rules, applied to run
records instead of file ctimes, so both sources are judged the same way:

- cadence = mean and population standard deviation of the gaps between consecutive
  launches (the start of a launch's first run); runs launched together (one schedule tick,
  one backfill, one ``materialize-all``: the five per-instrument MAST runs) are one launch,
  so their seconds apart never become the cadence. A legacy log, or a Dagster run launched
  alone, is a launch of its own. With fewer than 3 launches there is no useful cadence and
  jwql's one-year placeholder is used (so a new monitor is never flagged missing);
- a monitor is possibly missing when ``now - latest start > mean + 3 * std``;
- its status is the status of its latest run.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterable

SUCCESS = "SUCCESS"
FAILURE = "FAILURE"
STATUSES = (SUCCESS, FAILURE)
SOURCES = ("dagster", "legacy")

ONE_YEAR_S = 31556736.0  # jwql's placeholder cadence when fewer than 3 runs exist
MIN_RUNS_FOR_CADENCE = 3
ERROR_SUMMARY_MAX = 500


@dataclass(frozen=True)
class RunRecord:
    """One run of one monitor, as stored in the ``monitor`` table."""

    monitor_name: str
    source: str
    run_ref: str  # Dagster run id, or the legacy log file path
    status: str
    start_time: datetime | None
    end_time: datetime | None = None
    log_file: str | None = None
    run_id: str | None = None
    error_summary: str | None = None
    launch: str | None = None  # what launched it (tick, backfill, materialize-all call), when known; not stored

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"run {self.run_ref!r} of {self.monitor_name!r}: status must be one of {STATUSES}, got {self.status!r}")
        if self.source not in SOURCES:
            raise ValueError(f"run {self.run_ref!r} of {self.monitor_name!r}: source must be one of {SOURCES}, got {self.source!r}")

    @property
    def when(self) -> datetime | None:
        """The time a run is placed at: its start, else its end."""
        return self.start_time or self.end_time

    def as_row(self) -> dict:
        """The ``monitor`` table row of this run."""
        return {
            "monitor_name": self.monitor_name,
            "source": self.source,
            "run_ref": self.run_ref,
            "status": self.status,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "log_file": self.log_file,
            "run_id": self.run_id,
            "error_summary": self.error_summary,
        }


@dataclass(frozen=True)
class MonitorState:
    """What the status table shows for one monitor."""

    monitor_name: str
    source: str
    latest_file: str | None  # log file name (legacy) or run id (dagster) of the latest run
    latest_time: datetime | None
    cadence_mean_s: float
    cadence_std_s: float
    possibly_missing: bool
    status: str
    n_runs: int
    overdue_s: float  # now - latest - (mean + 3 std); > 0 means possibly missing
    error_summary: str | None = None
    runs_considered: tuple[str, ...] = field(default=(), repr=False)

    @property
    def ok(self) -> bool:
        return self.status == SUCCESS and not self.possibly_missing

    def as_row(self, snapshot_id: str, date: datetime) -> dict:
        """The ``monitor_status`` table row of this state for one snapshot."""
        return {
            "snapshot_id": snapshot_id,
            "date": date,
            "monitor_name": self.monitor_name,
            "source": self.source,
            "latest_file": self.latest_file,
            "latest_time": self.latest_time,
            "cadence_mean_s": self.cadence_mean_s,
            "cadence_std_s": self.cadence_std_s,
            "possibly_missing": self.possibly_missing,
            "status": self.status,
        }


def utc_from_timestamp(value: float | None) -> datetime | None:
    """A POSIX timestamp (as Dagster's run records give start and end) as an aware UTC time; None stays None."""
    return datetime.fromtimestamp(value, timezone.utc) if value is not None else None


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def cadence(times: Iterable[datetime]) -> tuple[float, float]:
    """(mean, population std) in seconds of the gaps between sorted run times; one year each below 3 runs."""
    ordered = sorted(_utc(t) for t in times)
    if len(ordered) < MIN_RUNS_FOR_CADENCE:
        return ONE_YEAR_S, ONE_YEAR_S
    gaps = [(b - a).total_seconds() for a, b in zip(ordered, ordered[1:])]
    mean = sum(gaps) / len(gaps)
    std = math.sqrt(sum((g - mean) ** 2 for g in gaps) / len(gaps))
    return mean, std


def launch_times(records: Iterable[RunRecord]) -> list[datetime]:
    """The start of each launch: runs sharing a launch count once, at their earliest time."""
    first: dict[str, datetime] = {}
    for r in records:
        if r.when is None:
            continue
        key = r.launch or r.run_ref
        when = _utc(r.when)
        if key not in first or when < first[key]:
            first[key] = when
    return list(first.values())


def possibly_missing(latest: datetime, mean_s: float, std_s: float, now: datetime) -> tuple[bool, float]:
    """(late?, seconds past the allowed gap) with jwql's rule now - latest > mean + 3 std."""
    overdue = (_utc(now) - _utc(latest)).total_seconds() - (mean_s + 3.0 * std_s)
    return overdue > 0, overdue


def monitor_state(records: Iterable[RunRecord], now: datetime) -> MonitorState:
    """The state of one monitor from all its runs (they must share monitor_name and source)."""
    runs = [r for r in records]
    if not runs:
        raise ValueError("a monitor needs at least one run record")
    names = {(r.monitor_name, r.source) for r in runs}
    if len(names) != 1:
        raise ValueError(f"records of several monitors given together: {sorted(names)}")
    dated = [r for r in runs if r.when is not None]
    if not dated:
        latest = max(runs, key=lambda r: r.run_ref)
        mean, std = ONE_YEAR_S, ONE_YEAR_S
        late, overdue = False, -(mean + 3 * std)
        latest_time = None
    else:
        # Ties on time are broken by reference so the choice is stable (jwql sorted log names).
        latest = max(dated, key=lambda r: (_utc(r.when), r.run_ref))  # type: ignore[arg-type]
        mean, std = cadence(launch_times(dated))
        latest_time = _utc(latest.when)  # type: ignore[arg-type]
        late, overdue = possibly_missing(latest_time, mean, std, now)
    ref = latest.log_file if latest.source == "legacy" and latest.log_file else latest.run_ref
    return MonitorState(
        monitor_name=latest.monitor_name,
        source=latest.source,
        latest_file=ref,
        latest_time=latest_time,
        cadence_mean_s=mean,
        cadence_std_s=std,
        possibly_missing=late,
        status=latest.status,
        n_runs=len(runs),
        overdue_s=overdue,
        error_summary=latest.error_summary if latest.status == FAILURE else None,
        runs_considered=tuple(r.run_ref for r in runs),
    )


def compute_status(records: Iterable[RunRecord], now: datetime | None = None) -> list[MonitorState]:
    """One state per (source, monitor_name), sorted by source then name."""
    now = _utc(now or datetime.now(timezone.utc))
    grouped: dict[tuple[str, str], list[RunRecord]] = {}
    for r in records:
        grouped.setdefault((r.source, r.monitor_name), []).append(r)
    return [monitor_state(grouped[k], now) for k in sorted(grouped)]


def problems(states: Iterable[MonitorState]) -> list[str]:
    """One human sentence per monitor that failed or is possibly missing (used by the check and alerts)."""
    out: list[str] = []
    for s in states:
        reasons = []
        if s.status == FAILURE:
            reasons.append("latest run failed" + (f" ({s.error_summary})" if s.error_summary else ""))
        if s.possibly_missing:
            reasons.append(f"possibly missing: last run {format_duration(s.overdue_s + s.cadence_mean_s + 3 * s.cadence_std_s)} ago, "
                           f"expected every {format_duration(s.cadence_mean_s)}")
        if reasons:
            out.append(f"{s.monitor_name} [{s.source}]: " + "; ".join(reasons))
    return out


def format_duration(seconds: float) -> str:
    """Compact human duration: 45s, 12m, 3.5h, 2.0d."""
    s = abs(seconds)
    if s < 120:
        text = f"{s:.0f}s"
    elif s < 7200:
        text = f"{s / 60:.0f}m"
    elif s < 172800:
        text = f"{s / 3600:.1f}h"
    else:
        text = f"{s / 86400:.1f}d"
    return ("-" if seconds < 0 else "") + text


# Secrets can appear in exception texts (a database URL with its password, a token in a
# query string or header). Anything that looks like one is masked before it is stored,
# shown in metadata or sent in an alert.
_SECRET_PATTERNS = [
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]*):[^\s@/]*@"), r"\1:***@"),
    (re.compile(r"(?i)\b(token|password|passwd|pwd|secret|api[_-]?key|authorization|mast_token)(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;&'\"]+)"), r"\1\2***"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[a-z0-9._~+/=-]{8,}"), r"\1 ***"),
]


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Mask credentials in ``text``: URL passwords, key=value secrets, bearer tokens and any given secret values."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    for pattern, repl in _SECRET_PATTERNS:
        text = pattern.sub(repl, text)
    return text


def summarize_error(text: str | None, secrets: Iterable[str] = (), limit: int = ERROR_SUMMARY_MAX) -> str | None:
    """A short, single-paragraph, secret-free error summary (None stays None)."""
    if text is None:
        return None
    flat = " ".join(line.strip() for line in str(text).strip().splitlines() if line.strip())
    flat = redact(flat, secrets)
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
