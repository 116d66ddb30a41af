"""Sensor module 'run_failures'."""

from __future__ import annotations

import dagster as dg

defs = dg.Definitions()
