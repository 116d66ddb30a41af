"""The default ``$DAGSTER_HOME/dagster.yaml`` of a local (``dagster dev``, SQLite) instance.

Without a dagster.yaml, Dagster runs no monitoring daemon and no retries: a run whose worker is
SIGKILLed (the OOM killer, a closed laptop) keeps its ``db`` pool slots for good and every run
queued behind it waits forever. :func:`ensure_instance_config` adds the settings that let such an
instance recover on its own (see docs/production.md, "Recovery without a person"), a run queue
sized to the machine, and no telemetry or first-visit dialog.

The user's own settings always win: our block is appended between two marker lines and holds
only the top-level sections the rest of the file does not set. Calling it again rewrites that
block only when its content would change, so it is safe to call before every ``dagster dev``.
This module imports no Dagster (the CLI calls it before Dagster starts).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from jwql_dagster.atomic import atomic_write_text

BEGIN = "# >>> jwql-dagster defaults (written by jwql_dagster.instance_config; set a section above to override it)"
END = "# <<< jwql-dagster defaults"

#: How much memory one run (its worker, plus its share of the render pool) may take, for sizing the queue.
GIB_PER_RUN = 2


def machine_run_limit(cores: int | None = None, mem_bytes: int | None = None) -> int:
    """Runs at once this machine holds without thrashing: one per core, one per 2 GiB, at least 2.

    At least two, so a long preview run never holds up the MAST or filesystem monitors.
    """
    if cores is None:
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            cores = os.cpu_count() or 1
    if mem_bytes is None:
        try:
            mem_bytes = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            mem_bytes = 0
    by_memory = mem_bytes // (GIB_PER_RUN << 30) if mem_bytes else cores
    return max(2, min(cores, by_memory))


def default_settings(max_runs: int | None = None) -> dict[str, Any]:
    """Our defaults for a local instance, by top-level section."""
    runs = machine_run_limit() if max_runs is None else max_runs
    return {
        "concurrency": {
            "runs": {
                "max_concurrent_runs": runs,
                "tag_concurrency_limits": [
                    {"key": "dagster/partition/instrument", "value": {"applyLimitPerUniqueValue": True}, "limit": 2},
                ],
            },
            "pools": {"default_limit": 2},
        },
        # The daemon looks at the run queue every second (Dagster's default is 5 s): a run the sensor or the
        # UI asks for starts at once, which is most of a short run's wall time.
        "run_coordinator": {
            "module": "dagster._core.run_coordinator",
            "class": "QueuedRunCoordinator",
            "config": {"dequeue_interval_seconds": 1},
        },
        # Run workers forked from a process with Dagster preloaded (run_launcher.py): a run starts in tenths of a
        # second instead of a fresh Python's 2-3 s. Runs of another Python or image go through the code server.
        "run_launcher": {"module": "jwql_dagster.run_launcher", "class": "WarmRunLauncher"},
        "run_monitoring": {
            "enabled": True,
            "poll_interval_seconds": 15,
            "free_slots_after_run_end_seconds": 15,
            "start_timeout_seconds": 180,
            "cancel_timeout_seconds": 180,
            "max_resume_run_attempts": 0,
            "max_runtime_seconds": 86400,
        },
        "run_retries": {"enabled": True, "max_retries": 2, "retry_on_asset_or_op_failure": True},
        "telemetry": {"enabled": False},
        "nux": {"enabled": False},
        "retention": {"sensor": {"purge_after_days": {"skipped": 1, "failure": 30, "success": -1}}},
    }


def split_managed(text: str) -> tuple[str, str]:
    """(the user's part of the file, our block) of a dagster.yaml's text."""
    start = text.find(BEGIN)
    if start < 0:
        return text, ""
    end = text.find(END, start)
    end = len(text) if end < 0 else end + len(END)
    return text[:start] + text[end:].lstrip("\n"), text[start:end]


_QUEUE_FIELDS = ("max_concurrent_runs", "tag_concurrency_limits", "block_op_concurrency_limited_runs")


def _queue_set_elsewhere(user: dict[str, Any]) -> bool:
    """Run-queue limits in ``run_queue`` or ``run_coordinator``: Dagster then refuses any ``concurrency`` section."""
    places = [user.get("run_queue"), (user.get("run_coordinator") or {}).get("config")]
    return any(isinstance(p, dict) and any(f in p for f in _QUEUE_FIELDS) for p in places)


def managed_sections(user: dict[str, Any], max_runs: int | None = None) -> dict[str, Any]:
    """The default sections the user's settings leave unset."""
    ours = {k: v for k, v in default_settings(max_runs).items() if k not in user}
    if _queue_set_elsewhere(user):
        ours.pop("concurrency", None)  # the user sized the queue the old way; pools would be refused beside it
    if "run_queue" in user:
        ours.pop("run_coordinator", None)  # Dagster refuses a run_coordinator section beside run_queue
    return ours


def render(user_text: str, sections: dict[str, Any]) -> str:
    if not sections:
        return user_text
    head = user_text.rstrip("\n")
    block = yaml.safe_dump(sections, sort_keys=False, default_flow_style=False)
    return (head + "\n\n" if head else "") + f"{BEGIN}\n{block}{END}\n"


def ensure_instance_config(dagster_home: str | os.PathLike[str], max_runs: int | None = None) -> list[str]:
    """Write or update our block of ``<dagster_home>/dagster.yaml``; returns the sections it holds.

    A file that is not a YAML mapping is left alone (Dagster will report it).
    """
    path = Path(dagster_home) / "dagster.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = path.read_text() if path.exists() else ""
    user_text, _ = split_managed(text)
    try:
        user = yaml.safe_load(user_text) or {}
    except yaml.YAMLError:
        return []
    if not isinstance(user, dict):
        return []
    sections = managed_sections(user, max_runs)
    new = render(user_text, sections)
    if new != text:
        atomic_write_text(path, new)
    return list(sections)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jwql_dagster.instance_config", description=__doc__.split("\n")[0])
    parser.add_argument("dagster_home", nargs="?", default=os.environ.get("DAGSTER_HOME"),
                        help="instance folder (default: $DAGSTER_HOME)")
    args = parser.parse_args(argv)
    if not args.dagster_home:
        print("instance_config: give the instance folder or set DAGSTER_HOME", file=sys.stderr)
        return 2
    sections = ensure_instance_config(args.dagster_home)
    where = Path(args.dagster_home) / "dagster.yaml"
    print(f"{where}: jwql-dagster defaults for {', '.join(sections) if sections else 'nothing (all set by you)'}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
