"""Pure domain code: no Dagster imports here."""
