"""Asset group 'mast' (assets, checks and jobs of this group)."""

from __future__ import annotations

import dagster as dg

defs = dg.Definitions()
