"""Central storage: bytes used under each jwql output area, and its disk's size and free space (no Dagster here).

One walk covers every area however the roots nest (the central store usually holds the
others); hard links count once per area. The archive scan is scan.py's.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from jwql_dagster.filesystem.disk import MAX_LISTED, Problem, existing_parent

CENTRAL_AREAS: tuple[str, ...] = ("logs", "outputs", "working", "preview_images", "thumbnails", "all")


@dataclass(frozen=True)
class AreaStorage:
    """One central-storage area: disk size and available of its device, bytes used under it."""

    area: str
    path: str
    size: int
    used: int
    available: int
    exists: bool


@dataclass
class CentralStorage:
    areas: dict[str, AreaStorage]
    problems: list[Problem]
    problem_count: int
    seconds: float


def central_storage(
    roots: Mapping[str, str | os.PathLike[str]],
    exclude_from_all: Iterable[str | os.PathLike[str]] = (),
    *,
    scandir: Callable | None = None,
) -> CentralStorage:
    """Size, used and available of each central-storage area in one walk.

    ``roots`` maps area name (logs, outputs, working, preview_images, thumbnails, all)
    to its folder. ``used`` is the bytes of regular files under the folder, each inode
    once (hard links are not counted twice). Folders in ``exclude_from_all`` (the
    archive and DAGSTER_HOME) are left out of 'all' when nested in it and are not
    walked at all unless another area lies inside them. Areas nested in one another
    share one walk, so every directory is listed once however the roots overlap.
    ``size``/``available`` come from ``shutil.disk_usage`` of the area's device.
    """
    start = time.perf_counter()
    scandir = scandir or os.scandir
    norm = {a: os.path.normpath(os.fspath(Path(p).absolute())) for a, p in roots.items()}
    excluded = {os.path.normpath(os.fspath(Path(p).absolute())) for p in exclude_from_all}
    names = list(norm)
    index = {a: i for i, a in enumerate(names)}
    all_i = index.get("all")
    starts: dict[str, list[int]] = {}
    for a, p in norm.items():
        starts.setdefault(p, []).append(index[a])
    # folders on the way to an area root: listed even where no area is active yet
    leads: set[str] = set()
    for p in starts:
        q = os.path.dirname(p)
        while q not in leads and q != os.path.dirname(q):
            leads.add(q)
            q = os.path.dirname(q)
    used = [0] * len(names)
    seen_inodes: list[set[tuple[int, int]]] = [set() for _ in names]
    problems: list[Problem] = []
    count = [0]

    def problem(kind: str, path: str, detail: str) -> None:
        count[0] += 1
        if len(problems) < MAX_LISTED:
            problems.append(Problem(kind, path, detail))

    def active_for(path: str, parent_active: tuple[int, ...]) -> tuple[int, ...]:
        act = list(parent_active)
        if path in excluded and all_i is not None and all_i in act:
            act.remove(all_i)
        for i in starts.get(path, ()):
            if i not in act:
                act.append(i)
        return tuple(act)

    # one walk per outermost root; nested roots join it when the walk reaches them
    tops = sorted(p for p in starts if not any(p != q and p.startswith(q.rstrip(os.sep) + os.sep) for q in starts))
    for top in tops:
        if not os.path.isdir(top):
            continue
        stack: list[tuple[str, tuple[int, ...]]] = [(top, active_for(top, ()))]
        while stack:
            path, active = stack.pop()
            try:
                it = scandir(path)
            except OSError as exc:
                problem("unreadable_dir", path, exc.strerror or str(exc))
                continue
            with it:
                for entry in it:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            sub = entry.path
                            act = active_for(sub, active)
                            if act or sub in leads:
                                stack.append((sub, act))
                            continue
                        if not active or not entry.is_file(follow_symlinks=False):
                            continue
                        st = entry.stat(follow_symlinks=False)
                    except OSError as exc:
                        problem("stat_error", entry.path, exc.strerror or str(exc))
                        continue
                    if st.st_nlink > 1:  # a hard link: count its inode once per area
                        ino = (st.st_dev, st.st_ino)
                        for i in active:
                            if ino not in seen_inodes[i]:
                                seen_inodes[i].add(ino)
                                used[i] += st.st_size
                    else:
                        for i in active:
                            used[i] += st.st_size
    areas: dict[str, AreaStorage] = {}
    for a, p in norm.items():
        du = shutil.disk_usage(existing_parent(Path(p)))
        areas[a] = AreaStorage(a, p, du.total, used[index[a]], du.free, os.path.isdir(p))
    return CentralStorage(areas, problems, count[0], time.perf_counter() - start)


def central_roots(
    *, log_root: str, output_root: str, working_root: str, preview_root: str, thumbnail_root: str, central_store: str
) -> dict[str, str]:
    """Area name -> folder, in jwql's FILESYSTEM_MONITOR_SUBDIRS order."""
    return {
        "logs": log_root,
        "outputs": output_root,
        "working": working_root,
        "preview_images": preview_root,
        "thumbnails": thumbnail_root,
        "all": central_store,
    }
