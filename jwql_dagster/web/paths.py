"""Which files the quicklook pages may serve: names checked first, then the resolved path.

Every URL part that names a file comes from a browser, so it is treated as hostile: a
program must be ``jw`` + five digits, a product name a plain file name with one of the
allowed endings, an output path plain parts without dots in front; and the path the parts
make, symlinks resolved, must still lie inside its root. Anything else is "not found"
(the caller answers 404), never an error page that echoes a path and never the file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

PROGRAM_RE = re.compile(r"^jw\d{5}$")
# A product or FITS stem: what our own names use (letters, digits, _ - . +), no leading dot.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,250}$")
PRODUCT_ENDINGS = (".jpg", ".thumb")
OUTPUT_ENDINGS = (".html", ".png", ".csv", ".json", ".jpg", ".svg", ".txt")


def is_program(text: str) -> bool:
    return bool(PROGRAM_RE.fullmatch(text))


def is_plain_name(text: str) -> bool:
    """A single file-name part of our kind: no separators, no NUL, not '.', '..' or hidden."""
    return bool(NAME_RE.fullmatch(text)) and ".." not in text


def program_of(stem: str) -> str | None:
    """``jw01068`` from a stem such as ``jw01068001001_...`` or ``jw01068-o001_...``; None otherwise."""
    head = stem[:7]
    return head if is_program(head) and (len(stem) == 7 or not stem[7].isalpha()) else None


def inside(root: Path, *parts: str) -> Path | None:
    """``root/parts...`` when it exists as a regular file inside ``root`` once symlinks are resolved, else None."""
    try:
        base = Path(os.path.realpath(root))
        target = Path(os.path.realpath(base.joinpath(*parts)))
    except (OSError, ValueError):
        return None
    if target == base or base not in target.parents:
        return None
    try:
        return target if target.is_file() else None
    except OSError:
        return None


def product_path(root: Path, program: str, name: str) -> Path | None:
    """A preview (``.jpg``) or thumbnail (``.thumb``) of a program under ``root``, or None."""
    if not is_program(program) or not is_plain_name(name) or not name.endswith(PRODUCT_ENDINGS):
        return None
    return inside(root, program, name)


def output_path(root: Path, relative: str) -> Path | None:
    """A dashboard file under the output root (``filesystem/filesystem_dashboard.html``), or None."""
    parts = relative.split("/")
    if not parts or not all(is_plain_name(p) for p in parts) or not parts[-1].endswith(OUTPUT_ENDINGS):
        return None
    return inside(root, *parts)
