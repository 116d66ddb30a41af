"""Helpers of the archive tests: a small archive on a fake clock, a fake ``files`` table, a ticker, links.

``FakeArchive``: every change sets the touched directory's mtime to the fake time, and the
clock moves on before each tick, so ticks are deterministic (no sleeping, no racy timestamps).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Iterable, Sequence

from astropy.io import fits

from jwql_dagster.archive.arrivals import scan_archive
from jwql_dagster.archive.changes import KnownFile, ScanResult
from jwql_dagster.archive.resources import ArchiveFilesystem

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


class Ticker:
    """Drives ticks: the clock moves 100 s before each one, the cursor is passed along."""

    def __init__(self, archive: FakeArchive, table: FakeFilesTable, settle: float = 10.0, cap: int = 5000,
                 materialized: set[tuple[str, str]] | None = None, **scan_options) -> None:
        self.archive, self.table, self.settle, self.cap = archive, table, settle, cap
        self.materialized = materialized or set()
        self.scan_options = scan_options  # outcome=, retry_after=, program_order=, cells_per_run=
        self.cursor: str | None = None

    def tick(self, advance: float = 100.0) -> ScanResult:
        self.archive.advance(advance)
        result = scan_archive(
            self.archive.root, self.cursor, now=self.archive.t, settle_seconds=self.settle, max_files=self.cap,
            known=self.table, materialized=lambda: self.materialized, **self.scan_options,
        )
        self.cursor = result.cursor
        return result


# ------------------------------------------------------------------ archives with symlinks

P = "jw01068"


def rate_name(visit: str, exposure: int, detector: str = "nrcb1") -> str:
    return f"{visit}_02101_{exposure:05d}_{detector}_rate.fits"


def fits_file(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fits.PrimaryHDU().writeto(path)
    return path


def plain_file(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * 10)
    return path


def resource_at(root: Path, out: Path) -> ArchiveFilesystem:
    return ArchiveFilesystem(filesystem=str(root), preview_root=str(out / "p"), thumbnail_root=str(out / "t"),
                             output_root=str(out / "o"), working_root=str(out / "w"), log_root=str(out / "l"),
                             central_store=str(out), dagster_home=str(out / "d"))


def archive_view(root: Path, tmp_path: Path) -> tuple[dict[str, str], list[str]]:
    """{name: folder} of the files program_files lists over every program, and the links it skipped."""
    archive, skipped, out = resource_at(root, tmp_path / "out"), [], {}
    for program in archive.programs(skipped):
        for f in archive.program_files(program, skipped=skipped):
            assert f.name not in out, f"{f.name} listed twice"
            out[f.name] = os.path.relpath(f.path.parent, root).replace(os.sep, "/")
    return out, skipped
