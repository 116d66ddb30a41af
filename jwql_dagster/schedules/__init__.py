"""Schedules, one module per asset group."""
