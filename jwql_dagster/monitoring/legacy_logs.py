"""Reading jwql's cron-log tree (the demo's writer of such a tree is jwql_dagster/demo/legacy_logs.py).

jwql's monitors log to ``{log_dir}/{ops|test|dev}/<module>/<module>_<host>_<YYYY-MM-DD-HH-MM>.log``
and end each log with a line containing "Completed Successfully" or "CRASHED". Reading
these logs lets a site keep old cron jobs while it moves monitors to Dagster one at a
time. Differences from jwql's reader, on purpose: the production folder is read as
``ops`` (the name jwql's writer uses; its reader looked for ``prod`` and found nothing),
an empty or unreadable log is a failure with a reason instead of a crash, and run times
come from the timestamp in the file name (jwql used ctime, which a copy or restore resets).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from pathlib import Path

from jwql_dagster.monitoring.status import FAILURE, SUCCESS, RunRecord, summarize_error

ENVIRONMENTS = ("ops", "test", "dev")
SELF_MODULE = "monitor_cron_jobs"  # jwql's own status job; its logs are not a monitor
TAIL_BYTES = 16 * 1024  # enough for the last lines and a traceback
_NAME_TIME = re.compile(r"_(\d{4}-\d{2}-\d{2}-\d{2}-\d{2})\.log$")


@dataclass(frozen=True)
class LogVerdict:
    status: str
    reason: str | None


def local_tz() -> tzinfo:
    """The machine's local zone: jwql stamps log names with local wall-clock time."""
    return datetime.now().astimezone().tzinfo or timezone.utc


def time_from_name(name: str, tz: tzinfo | None = None) -> datetime | None:
    """The start time encoded in a jwql log name (local time by default), or None."""
    m = _NAME_TIME.search(name)
    if not m:
        return None
    try:
        naive = datetime.strptime(m.group(1), "%Y-%m-%d-%H-%M")
    except ValueError:
        return None
    return naive.replace(tzinfo=tz or local_tz()).astimezone(timezone.utc)


def _tail_lines(path: Path) -> list[str]:
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - TAIL_BYTES))
        data = fh.read()
    return data.decode("utf-8", errors="replace").splitlines()


def judge_log(path: Path) -> LogVerdict:
    """SUCCESS when the last non-empty line says "complete"; otherwise FAILURE with the reason."""
    try:
        lines = [line.strip() for line in _tail_lines(path)]
    except OSError as exc:
        return LogVerdict(FAILURE, f"log unreadable: {exc.strerror or exc}")
    lines = [line for line in lines if line]
    if not lines:
        return LogVerdict(FAILURE, "log file is empty")
    last = lines[-1]
    if "complete" in last.lower():
        return LogVerdict(SUCCESS, None)
    if any("CRASHED" in line for line in lines[-50:]):
        # jwql logs the traceback before CRASHED; its last "Error:"-like line is the cause.
        crash_at = max(i for i, line in enumerate(lines) if "CRASHED" in line)
        cause = next((line for line in reversed(lines[:crash_at]) if re.search(r"(Error|Exception)\b", line)), None)
        return LogVerdict(FAILURE, "CRASHED" + (f": {cause}" if cause else ""))
    return LogVerdict(FAILURE, f"log does not end with a completion line (last line: {last[:160]})")


def scan_log_tree(
    log_root: str | os.PathLike[str],
    environment: str = "ops",
    tz: tzinfo | None = None,
    since: datetime | None = None,
    keep_latest: int = 3,
) -> list[RunRecord]:
    """One RunRecord per ``*.log`` under ``{log_root}/{environment}/<module>/``; a missing tree gives [].

    With ``since``, logs that started earlier are skipped (they no longer affect the cadence),
    except the ``keep_latest`` newest of each module, so years of hourly logs are not re-read
    every hour while a module that went quiet still shows its last runs.
    """
    if environment not in ENVIRONMENTS:
        raise ValueError(f"environment must be one of {ENVIRONMENTS}, got {environment!r}")
    base = Path(log_root) / environment
    records: list[RunRecord] = []
    try:
        modules = sorted((e for e in os.scandir(base) if e.is_dir(follow_symlinks=False)), key=lambda e: e.name)
    except FileNotFoundError:
        return []
    except NotADirectoryError:
        raise ValueError(f"legacy log folder {base} is not a directory") from None
    for module in modules:
        if module.name == SELF_MODULE:
            continue
        found: list[tuple[datetime | None, datetime | None, os.DirEntry]] = []
        try:
            entries = list(os.scandir(module.path))
        except OSError as exc:
            # One unreadable folder must not hide every other monitor: it shows as a failure with the reason.
            records.append(
                RunRecord(
                    monitor_name=module.name,
                    source="legacy",
                    run_ref=module.path,
                    status=FAILURE,
                    start_time=None,
                    end_time=datetime.now(timezone.utc),
                    error_summary=summarize_error(f"log folder unreadable: {exc.strerror or exc}"),
                )
            )
            continue
        for entry in entries:
            if not entry.name.endswith(".log") or not entry.is_file(follow_symlinks=False):
                continue
            try:
                mtime = datetime.fromtimestamp(entry.stat().st_mtime, timezone.utc)
            except OSError:
                mtime = None
            found.append((time_from_name(entry.name, tz) or mtime, mtime, entry))
        found.sort(key=lambda f: (f[0] or datetime.min.replace(tzinfo=timezone.utc), f[2].name), reverse=True)
        for i, (start, mtime, entry) in enumerate(found):
            if since is not None and i >= keep_latest and start is not None and start < since:
                continue
            path = Path(entry.path)
            verdict = judge_log(path)
            records.append(
                RunRecord(
                    monitor_name=module.name,
                    source="legacy",
                    run_ref=str(path),
                    status=verdict.status,
                    start_time=start,
                    end_time=mtime,
                    log_file=entry.name,
                    error_summary=summarize_error(verdict.reason),
                )
            )
    return records
