"""Asset archive_files[program x instrument]: the inventory of the archive's FITS files."""

from __future__ import annotations

import dagster as dg

defs = dg.Definitions()
