"""JwqlDatabase: the jwql tables on SQLite or PostgreSQL."""

from __future__ import annotations

import dagster as dg


class JwqlDatabase(dg.ConfigurableResource):
    """SQLAlchemy access to the jwql tables (URL from JWQL_DATABASE_URL)."""

    url: str
