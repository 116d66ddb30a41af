"""A realistic jwql cron-log tree for demos and tests, with a known expected status per module.

The tree follows jwql's layout ``{root}/ops/<module>/<module>_<host>_<YYYY-MM-DD-HH-MM>.log``
and its log lines; monitoring/legacy_logs.py reads it back, and the expected values returned by
``make_legacy_logs`` let tests and the demo check that reader.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path

from jwql_dagster.atomic import atomic_write_text
from jwql_dagster.monitoring.legacy_logs import local_tz
from jwql_dagster.monitoring.status import FAILURE, SUCCESS


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
