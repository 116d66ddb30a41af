"""Test helpers shipped with the package (local MAST server, fixtures)."""
