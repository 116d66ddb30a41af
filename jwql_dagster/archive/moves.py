"""Moves between areas, as the scan's diffing sees them (no Dagster here).

A file is identified by its name (layout.py): the same name in another area is a move, not a
new file plus a deletion. Its recorded row may sit in the twin folder of the other area, so the
rows of a changed folder are read together with its twins', and a name missing from one listing
is a deletion only when no other area shows it.
"""

from __future__ import annotations

import os
import stat as statmod
from typing import Any, Iterable, Mapping

from jwql_dagster.archive.changes import KnownFile
from jwql_dagster.archive.links import FOLLOW


class Moves:
    """Mixed into the scan: uses its state, areas, links and paths."""

    def with_counterparts(self, dirs: Iterable[str]) -> list[str]:
        """The directories and their twins in the other areas (where a moved file was recorded)."""
        out: set[str] = set()
        for rel in dirs:
            rest = rel.split("/", 1)[1]
            out.update(f"{area}/{rest}" for area in self.areas)
            out.add(rel)
        return sorted(out)

    def moved_from(self, e: Any, rows_by_name: Mapping[str, KnownFile] | None) -> str | None:
        """The other directory this file is known in (requested or recorded), if it is a move."""
        fl = self.state["inflight"].get(e.name)
        if fl is not None and fl[1] >= 0:
            return fl[0] if fl[0] != e.dir else None
        if rows_by_name is not None:
            row = rows_by_name.get(e.name)
            if row is not None and not row.deleted and row.dir != e.dir:
                return row.dir
        return None

    def exists_elsewhere(self, rel: str, name: str) -> bool:
        area, rest = rel.split("/", 1)
        for other in self.areas:
            if other != area and self.listed_file(f"{other}/{rest}/{name}"):
                return True
        fl = self.state["inflight"].get(name)
        return fl is not None and fl[1] >= 0 and fl[0] != rel

    def listed_file(self, rel: str) -> bool:
        """Whether a listing would show the file ``area/program/visit/name`` (links judged, nothing reported)."""
        parts = rel.split("/")
        for depth, kind in ((2, "program"), (3, "visit"), (4, "file")):
            path = self.abspath("/".join(parts[:depth]))
            try:
                st = os.lstat(path)
            except OSError:
                return False
            if statmod.S_ISLNK(st.st_mode) and self.links.judge(path, kind)[0] != FOLLOW:
                return False
        return os.path.isfile(self.abspath(rel))
