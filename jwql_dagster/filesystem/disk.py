"""What the filesystem scans share: the record of a skipped entry, and disk usage per device (no Dagster here)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

MAX_LISTED = 200  # names / problems kept for metadata; the counts are always complete


@dataclass(frozen=True)
class Problem:
    """Something the scan skipped: kind is unreadable_dir, dangling_link, link_loop, stat_error or special_file."""

    kind: str
    path: str
    detail: str = ""


@dataclass
class DiskUsage:
    """Size, used and available bytes, summed over distinct devices."""

    size: int = 0
    used: int = 0
    available: int = 0
    devices: int = 0


def disk_usage(paths: Iterable[str | os.PathLike[str]]) -> DiskUsage:
    """shutil.disk_usage summed over the distinct devices holding ``paths`` (a device counts once)."""
    out = DiskUsage()
    seen: set[int] = set()
    for p in paths:
        p = existing_parent(Path(p))
        dev = os.stat(p).st_dev
        if dev in seen:
            continue
        seen.add(dev)
        du = shutil.disk_usage(p)
        out.size += du.total
        out.used += du.used
        out.available += du.free
        out.devices += 1
    return out


def existing_parent(p: Path) -> Path:
    """``p`` or its nearest existing parent (a not-yet-created root still lives on some disk)."""
    while not p.exists() and p.parent != p:
        p = p.parent
    return p
