"""ArchiveFilesystem: the archive root (read-only) and the output roots we write into."""

from __future__ import annotations

import dagster as dg


class ArchiveFilesystem(dg.ConfigurableResource):
    """Where the JWST archive lives and where previews, thumbnails and outputs go."""

    filesystem: str
    preview_root: str
    thumbnail_root: str
    output_root: str
    working_root: str
    log_root: str
    central_store: str
    dagster_home: str
