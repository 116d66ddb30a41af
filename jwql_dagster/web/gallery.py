"""A program's gallery as the page shows it: exposures, their tiles, the pickers' choices.

Built from the ``files`` rows (parsed names and header values, so filtering never opens
a FITS file), one listing of the program's preview and thumbnail folders (jwql globbed
them per request), and the current failures. Pure: the web app feeds it, tests call it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from jwql_dagster.db.views import FailureLine
from jwql_dagster.web.paths import is_plain_name

MOSAIC_RE = re.compile(r"^(?P<group>.+)_(?P<detector>NRC_[A-Z]+_MOSAIC)_(?P<suffix>[a-z0-9]+)$")
PRODUCT_RE = re.compile(r"^(?P<stem>.+)_integ(?P<integ>\d+)\.jpg$")
FILTER_KEYS = ("suffix", "detector", "filter", "exp_type", "date")
UNGROUPED = "(unrecognised names)"


@dataclass
class Tile:
    """One file (or NIRCam mosaic) of the gallery."""

    stem: str
    kind: str  # file | mosaic
    exposure: str
    suffix: str = ""
    detector: str = ""
    filter: str = ""
    exp_type: str = ""
    date: str = ""
    integrations: list[int] = field(default_factory=list)
    thumbnail: str | None = None  # name in the thumbnail folder
    failures: list[str] = field(default_factory=list)

    @property
    def linkable(self) -> bool:
        """Whether the file page route accepts this name (odd archive names get a tile but no link)."""
        return is_plain_name(self.stem)

    def values(self) -> dict[str, str]:
        return {"suffix": self.suffix, "detector": self.detector, "filter": self.filter,
                "exp_type": self.exp_type, "date": self.date}


@dataclass
class Gallery:
    program: str
    exposures: list[tuple[str, list[Tile]]]
    choices: dict[str, list[str]]  # picker -> values present in the program
    total: int  # tiles before filtering
    shown: int


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def products_by_stem(names: Iterable[str]) -> dict[str, list[int]]:
    """stem -> integrations of the preview JPEGs in a folder listing."""
    out: dict[str, list[int]] = {}
    for name in names:
        m = PRODUCT_RE.match(name)
        if m and not name.startswith("."):
            out.setdefault(m["stem"], []).append(int(m["integ"]))
    return {k: sorted(v) for k, v in out.items()}


def build_gallery(
    program: str,
    rows: Sequence[Mapping[str, Any]],
    preview_names: Iterable[str],
    thumbnail_names: Iterable[str],
    failures: Sequence[FailureLine],
    selected: Mapping[str, str] | None = None,
) -> Gallery:
    """Tiles of every file row, every mosaic preview and every failed name, grouped by exposure and filtered.

    ``selected`` maps a picker (``suffix``, ``detector``, ``filter``, ``exp_type``, ``date``)
    to the value to keep; empty values keep everything.
    """
    integrations = products_by_stem(preview_names)
    thumbs = set(thumbnail_names)
    failed: dict[str, list[str]] = {}
    for line in failures:
        failed.setdefault(line.stem, []).append(line.reason)
    tiles: dict[str, Tile] = {}
    by_exposure_filter: dict[str, str] = {}
    for row in rows:
        stem = str(row["filename"]).removesuffix(".fits")
        date = _text(row.get("date_obs"))[:10]
        tile = Tile(stem, "file", _text(row.get("group_root")) or stem, _text(row.get("suffix")),
                    _text(row.get("detector")), _text(row.get("filter")), _text(row.get("exp_type")), date)
        tiles[stem] = tile
        by_exposure_filter.setdefault(tile.exposure, date)
    for stem in integrations:
        if stem not in tiles:
            m = MOSAIC_RE.match(stem)
            if m:
                tiles[stem] = Tile(stem, "mosaic", m["group"], m["suffix"], m["detector"],
                                   date=by_exposure_filter.get(m["group"], ""))
    for stem in failed:
        if stem not in tiles:
            m = MOSAIC_RE.match(stem)
            tiles[stem] = (Tile(stem, "mosaic", m["group"], m["suffix"], m["detector"]) if m
                           else Tile(stem, "file", UNGROUPED))
    for stem, tile in tiles.items():
        tile.integrations = integrations.get(stem, [])
        thumb = f"{stem}_integ0.thumb"
        tile.thumbnail = thumb if thumb in thumbs else None
        tile.failures = sorted(set(failed.get(stem, [])))

    choices = {key: sorted({t.values()[key] for t in tiles.values()} - {""}) for key in FILTER_KEYS}
    wanted = {k: v for k, v in (selected or {}).items() if k in FILTER_KEYS and v}
    kept = [t for t in tiles.values() if all(t.values()[k] == v for k, v in wanted.items())]
    groups: dict[str, list[Tile]] = {}
    for tile in sorted(kept, key=lambda t: (t.kind == "mosaic", t.detector, t.suffix, t.stem)):
        groups.setdefault(tile.exposure, []).append(tile)
    ordered = sorted(groups.items(), key=lambda kv: (kv[0] == UNGROUPED, kv[0]))
    return Gallery(program, ordered, choices, total=len(tiles), shown=len(kept))
