"""Sensor module 'new_fits_files'."""

from __future__ import annotations

import dagster as dg

defs = dg.Definitions()
