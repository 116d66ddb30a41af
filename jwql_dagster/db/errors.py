"""The database errors a caller outside db/ catches, named without importing SQLAlchemy.

Every process that loads the code location imports the sensors and assets that catch these
errors, but only the few that open the database need SQLAlchemy (about 0.2 s to import,
issue 17.2). So the error type we raise lives here, and SQLAlchemy's own base error is looked
up only when an exception is actually being matched.
"""

from __future__ import annotations

from jwql_dagster.config import mask_url


class DatabaseUnavailableError(RuntimeError):
    """The database cannot be reached or opened; the message names the URL with its password masked."""

    def __init__(self, url: str, detail: str) -> None:
        self.url = mask_url(url)
        self.detail = detail
        super().__init__(f"cannot use database {self.url}: {detail}")


def database_errors() -> tuple[type[Exception], ...]:
    """What ``except database_errors():`` catches to say "the database is unavailable, try again later":
    any SQLAlchemy error, and DatabaseUnavailableError.

    Python evaluates an ``except`` clause's expression only when an exception reaches it, so the
    import below runs on the error path alone (and SQLAlchemy is loaded by then if it raised).
    """
    import sqlalchemy as sa

    return (sa.exc.SQLAlchemyError, DatabaseUnavailableError)
