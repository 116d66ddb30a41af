"""MastService: the astroquery MAST client pointed at MAST_API_URL."""

from __future__ import annotations

from typing import Optional

import dagster as dg


class MastService(dg.ConfigurableResource):
    """MAST portal API client (token from MAST_API_TOKEN, never logged)."""

    url: str = "https://mast.stsci.edu"
    token: Optional[str] = None
