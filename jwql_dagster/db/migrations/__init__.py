"""Alembic migrations of the jwql tables, shipped inside the package so an installed copy can migrate."""
