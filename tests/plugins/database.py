"""Database fixtures (filled by the database layer)."""
