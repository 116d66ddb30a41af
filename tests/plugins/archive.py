"""Synthetic archive fixtures: one small archive per test session, shared read-only.

Use ``small_archive`` wherever a test needs real-looking JWST files; copy it
(``shutil.copytree(small_archive.root, tmp_path / "archive")``) before changing anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

SMALL_ARCHIVE_ARGS = {"programs": 3, "size": "small", "seed": 1, "with_bad_files": True}


@dataclass(frozen=True)
class SyntheticArchive:
    """A synthetic archive on disk and its truth (the dict written to ``root/synthetic_truth.json``).

    ``truth["files"]`` maps each product's path relative to ``root`` to its record (program,
    area, instrument, detector, suffix, filter/pupil/grating, exp_type, subarray, nints,
    ngroups, shape, dtype, extensions, size, stars, hot_pixels, nan_pixels, cosmic_rays for
    uncal); ``truth["bad_files"]`` lists the broken files (path, name, kind, reason, program,
    area); ``truth["programs"]`` is :func:`jwql_dagster.demo.synthetic.program_plan`'s list.
    """

    root: Path
    truth: dict[str, Any] = field(repr=False)

    @property
    def path(self) -> Path:
        """The archive root (same as ``.root``; the object is also path-like: ``Path(small_archive)``)."""
        return self.root

    def __fspath__(self) -> str:
        return str(self.root)

    def __truediv__(self, relpath: str) -> Path:
        return self.root / relpath

    @property
    def programs(self) -> list[str]:
        """Program folder names (``jw01234``), sorted."""
        return sorted(p["program"] for p in self.truth["programs"])

    def file(self, relpath: str) -> Path:
        """Absolute path of a file given relative to the root (as in the truth)."""
        return self.root / relpath

    def records(self, **where: Any) -> dict[str, dict[str, Any]]:
        """Truth records of the good files whose fields equal ``where`` (e.g. instrument="nircam", suffix="rate")."""
        return {
            rel: rec
            for rel, rec in self.truth["files"].items()
            if all(rec.get(key) == value for key, value in where.items())
        }

    def files(self, **where: Any) -> list[Path]:
        """Absolute paths of the good files matching ``where`` (see :meth:`records`), sorted."""
        return [self.root / rel for rel in sorted(self.records(**where))]

    def bad(self, kind: str) -> Path:
        """The broken file of a kind: truncated, not_fits, no_sci, all_nan, empty, bad_name."""
        for item in self.truth["bad_files"]:
            if item["kind"] == kind:
                return self.root / item["path"]
        raise KeyError(kind)


@pytest.fixture(scope="session")
def small_archive(tmp_path_factory: pytest.TempPathFactory) -> SyntheticArchive:
    """A session-wide synthetic archive: ``make_archive(tmp, programs=3, size="small", seed=1, with_bad_files=True)``.

    Returns a :class:`SyntheticArchive`: ``.root`` (= ``.path``, and ``Path(small_archive)``)
    is the archive root to use as JWQL_FILESYSTEM, ``.truth`` the truth dict; helpers
    ``.files(instrument=..., suffix=...)``, ``.records(...)``, ``.file(relpath)``,
    ``.bad(kind)``, ``.programs``, ``small_archive / "public"``. Three programs (two public, one
    proprietary) cover all five instruments; about 100 files, ~2 s to build. Read-only:
    copy it before modifying.
    """
    from jwql_dagster.demo.synthetic import make_archive

    root = tmp_path_factory.mktemp("synthetic") / "archive"
    truth = make_archive(root, **SMALL_ARCHIVE_ARGS)
    return SyntheticArchive(root=root, truth=truth)


@pytest.fixture(scope="session")
def archive_truth(small_archive: SyntheticArchive) -> dict[str, Any]:
    """The truth dict of ``small_archive`` (same as reading its ``synthetic_truth.json``)."""
    return small_archive.truth
