"""jwql-dagster: the JWST Quicklook monitors as Dagster software-defined assets."""

__version__ = "0.1.0"
