"""A static HTML gallery of one program's previews and thumbnails.

jwql showed previews only through its Django web app; a plain page next to the other
outputs needs no server: open it from disk or any static web server. Links are relative
(``os.path.relpath``) so the page keeps working when the three roots move together.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Collection, Iterable
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    import jinja2

from jwql_dagster.atomic import atomic_write_text

_INTEG_RE = re.compile(r"^(?P<stem>.+)_integ(?P<integ>\d+)$")
_OBS_RE = re.compile(r"^jw\d{5}(?P<obs>\d{3})\d{3}_")
_STAGE3_RE = re.compile(r"^jw\d{5}-(?P<acid>[a-z]\d{3,4})_", re.IGNORECASE)


@dataclass
class GalleryEntry:
    """One preview image, with the thumbnail that stands for it when there is one."""

    name: str  # preview file name, e.g. jw..._rate_integ0.jpg
    preview: Path
    thumbnail: Path | None
    integration: int


@dataclass
class Gallery:
    """What a gallery page shows, grouped by observation (``other`` for names without one)."""

    program: str
    groups: dict[str, list[GalleryEntry]] = field(default_factory=dict)

    @property
    def n_previews(self) -> int:
        return sum(len(v) for v in self.groups.values())

    @property
    def n_thumbnails(self) -> int:
        return sum(1 for v in self.groups.values() for e in v if e.thumbnail is not None)


def observation_of(name: str) -> str:
    """Group label of a product name: ``observation 001``, ``stage 3 o001`` or ``other``."""
    m = _OBS_RE.match(name)
    if m:
        return f"observation {m.group('obs')}"
    m = _STAGE3_RE.match(name)
    if m:
        return f"stage 3 {m.group('acid').lower()}"
    return "other"


def _split_product(name: str) -> tuple[str, int] | None:
    """(source stem, integration) of a product name ``<stem>_integ<i>.jpg`` or ``.thumb``, else None."""
    for ext in (".jpg", ".thumb"):
        if name.endswith(ext):
            m = _INTEG_RE.match(name[: -len(ext)])
            return (m.group("stem"), int(m.group("integ"))) if m else None
    return None


def products_of(stems: Collection[str], names: Iterable[str]) -> dict[str, list[str]]:
    """stem -> the product names (``<stem>_integ<i>.jpg``/``.thumb``) among ``names`` made from that stem.

    Matching is exact on the whole stem, so ``x_rate`` never claims ``x_rateints_integ0.jpg``,
    and hidden or temporary files (leading dot) are never returned. Each list is ordered
    integration 0 first (the completeness marker of a set).
    """
    wanted = set(stems)
    found: dict[str, list[tuple[int, str]]] = {}
    for name in names:
        if name.startswith("."):
            continue
        split = _split_product(name)
        if split is not None and split[0] in wanted:
            found.setdefault(split[0], []).append((split[1], name))
    return {stem: [n for _, n in sorted(items)] for stem, items in found.items()}


def collect_gallery(program: str, preview_dir: Path, thumbnail_dir: Path, hidden: Collection[str] = ()) -> Gallery:
    """Every ``*.jpg`` preview of the program folder, paired with its ``.thumb`` when present.

    ``hidden`` holds source stems (FITS names without ``.fits``) whose products are left out:
    those of files deleted from the archive whose previews have not been removed yet.
    """
    hidden = set(hidden)
    thumbs: set[str] = set()
    if thumbnail_dir.is_dir():
        thumbs = {e.name for e in os.scandir(thumbnail_dir) if e.name.endswith(".thumb") and e.is_file()}
    gallery = Gallery(program)
    if not preview_dir.is_dir():
        return gallery
    names = sorted(e.name for e in os.scandir(preview_dir) if e.name.endswith(".jpg") and not e.name.startswith(".") and e.is_file())
    for name in names:
        stem = name[: -len(".jpg")]
        m = _INTEG_RE.match(stem)
        if m and m.group("stem") in hidden:
            continue
        integ = int(m.group("integ")) if m else 0
        thumb = thumbnail_dir / f"{stem}.thumb" if f"{stem}.thumb" in thumbs else None
        entry = GalleryEntry(name, preview_dir / name, thumb, integ)
        gallery.groups.setdefault(observation_of(name), []).append(entry)
    return gallery


# Autoescaped: file names come from the archive and may hold any character a file system allows.
_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{{ program }} previews</title>
<style>body{font-family:sans-serif;margin:1em}figure{display:inline-block;margin:.4em;width:230px;\
vertical-align:top}img{max-width:220px;max-height:220px}figcaption{font-size:11px;word-break:break-all}\
ul{font-size:12px}</style>
</head><body>
<h1>{{ program }}: {{ n_previews }} previews, {{ n_thumbnails }} thumbnails</h1>
<p>Generated {{ generated }}.</p>
{% if not groups %}
<p>No previews yet.</p>
{% endif %}
{% for label, with_thumb, without in groups %}
<section><h2>{{ label }} ({{ with_thumb|length + without|length }})</h2>
{% for e in with_thumb %}
<figure><a href="{{ e.href }}"><img src="{{ e.src }}" alt="{{ e.name }}" loading="lazy"></a>\
<figcaption>{{ e.name }}</figcaption></figure>
{% endfor %}
{% if without %}
<ul>
{% for e in without %}
<li><a href="{{ e.href }}">{{ e.name }}</a></li>
{% endfor %}
</ul>
{% endif %}
</section>
{% endfor %}
</body></html>
"""


@functools.cache
def _template() -> jinja2.Template:
    import jinja2  # only where a page is written: the code location loads without it

    env = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    return env.from_string(_TEMPLATE)


def _href(target: Path, page_dir: Path) -> str:
    return quote(os.path.relpath(target, page_dir).replace(os.sep, "/"))


def render_gallery_html(gallery: Gallery, page_dir: Path, generated: datetime | None = None) -> str:
    """The page: one section per observation; thumbnails link to previews, other previews are text links."""
    generated = generated or datetime.now(timezone.utc)
    groups = []
    for label in sorted(gallery.groups):
        entries = [{"name": e.name, "href": _href(e.preview, page_dir),
                    "src": _href(e.thumbnail, page_dir) if e.thumbnail is not None else None}
                   for e in gallery.groups[label]]
        groups.append((label, [e for e in entries if e["src"]], [e for e in entries if not e["src"]]))
    return _template().render(program=gallery.program, n_previews=gallery.n_previews,
                              n_thumbnails=gallery.n_thumbnails, groups=groups,
                              generated=generated.strftime("%Y-%m-%d %H:%M:%S UTC"))


def write_gallery(program: str, preview_dir: Path, thumbnail_dir: Path, page: Path, hidden: Collection[str] = ()) -> Gallery:
    """Collect the program's products (less those of ``hidden`` stems) and write ``page`` atomically; returns what it shows."""
    gallery = collect_gallery(program, Path(preview_dir), Path(thumbnail_dir), hidden)
    atomic_write_text(page, render_gallery_html(gallery, Path(page).parent))
    return gallery


def choose_proposal_thumbnail(thumbnail_dir: Path) -> Path | None:
    """The thumbnail that stands for a program: the lexically first non-mosaic rate, else dark, else uncal one.

    jwql took the first of an unsorted glob, so its choice changed between runs; sorting
    makes it stable, and mosaics are left out so the picture is always one detector's.
    """
    if not Path(thumbnail_dir).is_dir():
        return None
    names = sorted(
        e.name for e in os.scandir(thumbnail_dir)
        if e.name.endswith("_integ0.thumb") and "_MOSAIC_" not in e.name and not e.name.startswith(".")
    )
    for suffix in ("rate", "dark", "uncal"):
        for name in names:
            if name.endswith(f"_{suffix}_integ0.thumb"):
                return Path(thumbnail_dir) / name
    return None
