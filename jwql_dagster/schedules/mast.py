"""Schedules of the 'mast' group."""

from __future__ import annotations

import dagster as dg

defs = dg.Definitions()
