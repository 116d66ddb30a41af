"""The rendering's version: what makes the UI mark every preview partition stale (no Dagster here)."""

from __future__ import annotations

import hashlib
from pathlib import Path

# Modules whose code decides what a preview looks like: their source is the rendering's version.
_RENDER_MODULES = ("render.py", "frame.py", "fits_io.py", "mosaic.py", "worker.py")
PREVIEW_CODE_VERSION_BASE = "previews-2"


def render_code_version(folder: Path = Path(__file__).parent) -> str:
    """``previews-2+<hash>``: the hash of the rendering modules' source, so any change to how a
    preview is made marks every partition stale in the UI, without importing the renderer
    (and astropy) when the code location loads, and without a version number to forget."""
    digest = hashlib.sha256()
    for name in _RENDER_MODULES:
        digest.update(name.encode())
        digest.update((folder / name).read_bytes())
    return f"{PREVIEW_CODE_VERSION_BASE}+{digest.hexdigest()[:12]}"


PREVIEW_CODE_VERSION = render_code_version()
