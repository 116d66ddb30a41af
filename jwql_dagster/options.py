"""JwqlOptions: the tuning knobs of config.py that assets, checks and sensors read."""

from __future__ import annotations

import dagster as dg


class JwqlOptions(dg.ConfigurableResource):
    """Workers, sensor limits, failure threshold and inline-preview policy."""

    preview_workers: int = 1
    max_failure_rate: float = 0.1
    inline_previews: str = "public"
    sensor_settle_seconds: float = 10.0
    sensor_max_files_per_tick: int = 5000
    sensor_interval_seconds: int = 15
