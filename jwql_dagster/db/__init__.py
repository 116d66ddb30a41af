"""Database models and migrations of the jwql tables."""
