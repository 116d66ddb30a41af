"""Reading (and, for demos and tests, writing) jwql's cron-log tree.

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
import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path

from jwql_dagster.atomic import atomic_write_text
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


# --------------------------------------------------------------------------- writing (demo/test tree)

def log_name(module: str, host: str, start: datetime, tz: tzinfo | None = None) -> str:
    stamp = start.astimezone(tz or local_tz()).strftime("%Y-%m-%d-%H-%M")
    return f"{module}_{host}_{stamp}.log"


def _log_text(module: str, host: str, start: datetime, elapsed: timedelta, outcome: str) -> str:
    ts = start.astimezone(timezone.utc)
    head = [
        f"{ts:%Y-%m-%d %H:%M:%S} INFO: User: jwqladm",
        f"{ts:%Y-%m-%d %H:%M:%S} INFO: System: {host}",
        f"{ts:%Y-%m-%d %H:%M:%S} INFO: Python Version: 3.11.9",
        f"{ts:%Y-%m-%d %H:%M:%S} INFO: Beginning {module}",
    ]
    end = ts + elapsed
    h, rem = divmod(int(elapsed.total_seconds()), 3600)
    m, s = divmod(rem, 60)
    tail = [
        f"{end:%Y-%m-%d %H:%M:%S} INFO: Elapsed Real Time: {h}:{m}:{s}",
        f"{end:%Y-%m-%d %H:%M:%S} INFO: Elapsed CPU Time: {h}:{m}:{max(0, s - 1)}",
    ]
    if outcome == "crashed":
        body = [
            f"{end:%Y-%m-%d %H:%M:%S} CRITICAL: Traceback (most recent call last):",
            f'  File "/opt/jwql/jwql/jwql_monitors/{module}.py", line 212, in run',
            "    results = query_mast(instrument)",
            "requests.exceptions.ConnectionError: HTTPSConnectionPool(host='mast.stsci.edu', port=443): Max retries exceeded",
            f"{end:%Y-%m-%d %H:%M:%S} CRITICAL: CRASHED",
        ]
        return "\n".join(head + body) + "\n"
    return "\n".join(head + tail + [f"{end:%Y-%m-%d %H:%M:%S} INFO: Completed Successfully"]) + "\n"


@dataclass(frozen=True)
class LegacyModulePlan:
    module: str
    cadence: timedelta
    runs: int
    last_ago: timedelta  # how long before now the latest run started
    last_outcome: str  # "ok" | "crashed" | "empty"


DEFAULT_PLAN = (
    LegacyModulePlan("monitor_filesystem", timedelta(days=1), 14, timedelta(hours=3), "ok"),
    LegacyModulePlan("monitor_mast", timedelta(days=1), 14, timedelta(hours=5), "crashed"),
    LegacyModulePlan("generate_preview_images", timedelta(hours=1), 48, timedelta(days=2), "ok"),  # overdue
    LegacyModulePlan("generate_proposal_thumbnails", timedelta(hours=6), 20, timedelta(hours=2), "empty"),
    LegacyModulePlan("monitor_template_cache", timedelta(hours=12), 2, timedelta(hours=30), "ok"),  # too few runs
)


def make_legacy_logs(
    path: str | os.PathLike[str],
    now: datetime | None = None,
    plan: tuple[LegacyModulePlan, ...] = DEFAULT_PLAN,
    host: str = "pljwql1",
    seed: int = 1,
    tz: tzinfo | None = None,
) -> dict[str, dict]:
    """Write a realistic jwql log tree under ``path`` with times relative to ``now``; return what each module should show.

    The expected values (status, possibly_missing, runs) let tests and the demo check the reader.
    """
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(second=0, microsecond=0)
    rng = random.Random(seed)
    root = Path(path)
    truth: dict[str, dict] = {}
    for p in plan:
        folder = root / "ops" / p.module
        latest = now - p.last_ago
        for i in range(p.runs):
            # small jitter keeps the cadence realistic (cron start plus queueing), never reordering runs
            jitter = timedelta(minutes=rng.randint(0, 4)) if i else timedelta(0)
            start = latest - i * p.cadence + jitter
            elapsed = timedelta(seconds=rng.randint(20, 600))
            outcome = p.last_outcome if i == 0 else "ok"
            target = folder / log_name(p.module, host, start, tz)
            text = "" if outcome == "empty" else _log_text(p.module, host, start, elapsed, outcome)
            atomic_write_text(target, text)
            end = start + elapsed
            os.utime(target, (end.timestamp(), end.timestamp()))
        truth[p.module] = {
            "runs": p.runs,
            "status": SUCCESS if p.last_outcome == "ok" else FAILURE,
            "possibly_missing": p.runs >= 3 and p.last_ago > p.cadence * 1.5,
            "latest": log_name(p.module, host, latest, tz),
        }
    # jwql's own status job and a dev tree exist on real servers and must not show up as ops monitors.
    for extra in (root / "ops" / "monitor_cron_jobs", root / "dev" / "monitor_filesystem"):
        start = now - timedelta(hours=1)
        atomic_write_text(extra / log_name(extra.name, "djwql1", start, tz), _log_text(extra.name, "djwql1", start, timedelta(seconds=30), "ok"))
    return truth
