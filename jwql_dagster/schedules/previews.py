"""Schedules of the 'previews' group."""

from __future__ import annotations

import dagster as dg

defs = dg.Definitions()
