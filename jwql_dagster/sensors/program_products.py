"""Sensor module 'program_products'."""

from __future__ import annotations

import dagster as dg

defs = dg.Definitions()
