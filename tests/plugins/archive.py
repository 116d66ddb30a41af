"""Synthetic archive fixtures (filled by the archive generator)."""
