"""Schedules of the 'monitoring' group."""

from __future__ import annotations

import dagster as dg

defs = dg.Definitions()
