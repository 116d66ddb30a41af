"""A small archive on disk whose file and directory mtimes follow a fake clock, plus a fake ``files`` table.

Every change sets the touched directory's mtime to the fake time, and the clock moves
on before each tick, so ticks are deterministic (no sleeping, no racy timestamps).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Iterable, Sequence

from jwql_dagster.archive.arrivals import KnownFile

DETECTORS = {"nircam": "nrcb1", "miri": "mirimage", "niriss": "nis", "nirspec": "nrs1"}


def fits_name(program: int, instrument: str = "nircam", exposure: int = 1, visit: int = 1, suffix: str = "rate") -> str:
    return f"jw{program:05d}001{visit:03d}_02101_{exposure:05d}_{DETECTORS[instrument]}_{suffix}.fits"


def _ns(t: float) -> int:
    return int(round(t * 1e9))


class FakeArchive:
    def __init__(self, root: Path, t0: float = 1_700_000_000.0) -> None:
        self.root = root
        self.t = t0
        root.mkdir(parents=True, exist_ok=True)

    # -- clock
    def advance(self, seconds: float = 100.0) -> float:
        self.t += seconds
        return self.t

    def _touch(self, path: Path) -> None:
        os.utime(path, ns=(_ns(self.t), _ns(self.t)))

    def _ensure_dir(self, rel: Path) -> Path:
        parts = rel.parts
        cur = self.root
        for part in parts:
            nxt = cur / part
            if not nxt.exists():
                nxt.mkdir()
                self._touch(cur)
                self._touch(nxt)
            cur = nxt
        return cur

    # -- changes
    def visit_dir(self, name: str, area: str = "public") -> Path:
        return self._ensure_dir(Path(area) / name[:7] / name[:13])

    def add(self, name: str, area: str = "public", size: int = 100, age: float = 1000.0) -> Path:
        """A complete file whose mtime is ``age`` seconds before the fake now."""
        d = self.visit_dir(name, area)
        path = d / name
        path.write_bytes(b"x" * size)
        os.utime(path, ns=(_ns(self.t - age), _ns(self.t - age)))
        self._touch(d)
        return path

    def remove(self, name: str, area: str = "public") -> None:
        d = self.root / area / name[:7] / name[:13]
        (d / name).unlink()
        self._touch(d)

    def move(self, name: str, src: str = "proprietary", dst: str = "public") -> Path:
        """Rename a file to the other area (mtime kept, as mv does)."""
        s = self.root / src / name[:7] / name[:13] / name
        d = self.visit_dir(name, dst)
        os.rename(s, d / name)
        self._touch(s.parent)
        self._touch(d)
        return d / name

    def copy(self, name: str, src: str = "proprietary", dst: str = "public") -> Path:
        s = self.root / src / name[:7] / name[:13] / name
        d = self.visit_dir(name, dst)
        shutil.copy2(s, d / name)
        self._touch(d)
        return d / name

    def replace_by_rename(self, name: str, area: str = "public", size: int = 200, age: float = 500.0) -> Path:
        d = self.root / area / name[:7] / name[:13]
        tmp = d / f".{name}.part"
        tmp.write_bytes(b"y" * size)
        os.utime(tmp, ns=(_ns(self.t - age), _ns(self.t - age)))
        os.rename(tmp, d / name)
        self._touch(d)
        return d / name

    def files(self) -> Iterable[Path]:
        return sorted(p for p in self.root.rglob("*.fits") if p.is_file())


class FakeFilesTable:
    """What archive_files would have recorded: name -> KnownFile; lookups as strict as the Contract allows."""

    def __init__(self) -> None:
        self.rows: dict[str, KnownFile] = {}
        self.calls = 0

    def record(self, archive: FakeArchive) -> None:
        """Inventory the whole archive (a completed archive_files run of every partition)."""
        present = {}
        for p in archive.files():
            st = p.stat()
            rel = p.parent.relative_to(archive.root).as_posix()
            present[p.name] = KnownFile(p.name, rel, st.st_size, st.st_mtime_ns)
        for name, row in self.rows.items():
            if name not in present and not row.deleted:
                self.rows[name] = KnownFile(row.name, row.dir, row.size, row.mtime_ns, deleted=True)
        self.rows.update(present)

    def __call__(self, dirs: Sequence[str], names: Sequence[str]) -> list[KnownFile]:
        self.calls += 1
        dirs_set, names_set = set(dirs), set(names)
        return [r for r in self.rows.values() if r.dir in dirs_set or r.name in names_set]
