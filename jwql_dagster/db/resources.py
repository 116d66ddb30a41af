"""JwqlDatabase: the jwql tables on SQLite or PostgreSQL.

Every process that loads the code location builds this resource, few of them open the database:
SQLAlchemy and the engine module are imported when the engine is first created, not with this module.
"""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Sequence

import dagster as dg
from pydantic import PrivateAttr

from jwql_dagster.config import mask_url
from jwql_dagster.db.errors import DatabaseUnavailableError

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

# Columns an upsert never overwrites unless asked: the surrogate key and when a row was first seen.
PRESERVED_ON_UPDATE = ("id", "first_seen")
# Rows per INSERT statement (SQLite allows 32766 bound parameters; our widest table has ~35 columns).
UPSERT_CHUNK = 500

_migrated: set[str] = set()
_migrate_lock = threading.Lock()

__all__ = ["JwqlDatabase", "DatabaseUnavailableError"]


class JwqlDatabase(dg.ConfigurableResource):
    """SQLAlchemy access to the jwql tables (URL from JWQL_DATABASE_URL), migrated on first use."""

    url: str

    _engine: sa.Engine | None = PrivateAttr(default=None)

    @property
    def masked_url(self) -> str:
        return mask_url(self.url)

    @property
    def engine(self) -> sa.Engine:
        """The engine, created on first use, after the schema is brought to the latest migration."""
        if self._engine is None:
            from jwql_dagster.db.engine import create_jwql_engine

            engine = create_jwql_engine(self.url)
            try:
                self._ensure_schema(engine)
            except BaseException:
                engine.dispose()
                raise
            self._engine = engine
        return self._engine

    def _ensure_schema(self, engine: sa.Engine) -> None:
        # Once per process and URL: later resources for the same database skip the version check.
        with _migrate_lock:
            if self.url in _migrated:
                return
            import sqlalchemy as sa

            from jwql_dagster.db.engine import error_detail

            # alembic (and mako) load only in the process that opens the database, not in every
            # process that imports the code location.
            from jwql_dagster.db.migrate import upgrade

            try:
                upgrade(engine)
            except sa.exc.OperationalError as exc:
                raise DatabaseUnavailableError(self.url, error_detail(exc, self.url)) from None
            except sa.exc.InterfaceError as exc:
                raise DatabaseUnavailableError(self.url, error_detail(exc, self.url)) from None
            _migrated.add(self.url)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self.dispose()

    def dispose(self) -> None:
        """Close every pooled connection (the next use reconnects)."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    @contextlib.contextmanager
    def session(self, readonly: bool = False) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back if it raises.

        On SQLite a write session takes the write lock at its start (BEGIN IMMEDIATE), so
        concurrent writers wait for each other instead of failing; pass ``readonly=True``
        for a session that only reads and should not wait for writers.
        """
        import sqlalchemy as sa
        from sqlalchemy.orm import Session  # the ORM loads with the first session, not with the code location

        from jwql_dagster.db.engine import SQLITE_BEGIN_OPTION, error_detail

        bind: sa.Engine = self.engine
        if readonly and bind.dialect.name == "sqlite":
            bind = bind.execution_options(**{SQLITE_BEGIN_OPTION: "DEFERRED"})
        try:
            conn = bind.connect()
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            raise DatabaseUnavailableError(self.url, error_detail(exc, self.url)) from None
        with conn, Session(conn, expire_on_commit=False) as session:
            with session.begin():
                yield session

    def upsert(
        self,
        session: Session,
        model: Any,
        rows: Sequence[dict[str, Any]],
        key: Sequence[str],
        update: Iterable[str] | None = None,
    ) -> int:
        """Insert ``rows`` or, where a row with the same ``key`` exists, update it; returns the row count.

        ``key`` must be the columns of a unique constraint of ``model`` (e.g. ``("filename",)``
        for File). Updated columns default to every column given in the rows except the key,
        ``id`` and ``first_seen``; pass ``update`` to choose them. Rows may differ in which
        columns they give; each set of columns is written by its own statement.
        """
        if not rows:
            return 0
        table: sa.Table = model.__table__
        key = tuple(key)
        unknown = [k for k in key if k not in table.c]
        if unknown:
            raise ValueError(f"upsert key {unknown} not in table {table.name}")
        from sqlalchemy.dialects import postgresql, sqlite

        insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in rows:
            missing = [k for k in key if k not in row]
            if missing:
                raise ValueError(f"upsert into {table.name}: row lacks key column(s) {missing}")
            groups.setdefault(tuple(sorted(row)), []).append(row)
        chosen = None if update is None else set(update)
        for columns, group in groups.items():
            bad = [c for c in columns if c not in table.c]
            if bad:
                raise ValueError(f"upsert into {table.name}: unknown column(s) {bad}")
            stmt = insert(table)
            if chosen is None:
                targets = [c for c in columns if c not in key and c not in PRESERVED_ON_UPDATE]
            else:
                targets = [c for c in columns if c in chosen and c not in key]
            if targets:
                stmt = stmt.on_conflict_do_update(index_elements=list(key), set_={c: stmt.excluded[c] for c in targets})
            else:
                stmt = stmt.on_conflict_do_nothing(index_elements=list(key))
            # Deduplicate on the key inside one statement (PostgreSQL refuses to touch a row twice).
            unique: dict[tuple[Any, ...], dict[str, Any]] = {tuple(r[k] for k in key): r for r in group}
            batch = list(unique.values())
            for start in range(0, len(batch), UPSERT_CHUNK):
                session.execute(stmt, batch[start : start + UPSERT_CHUNK])
        return len(rows)

    def check(self) -> str:
        """Connect, migrate if needed and return a one-line description (password masked)."""
        with self.session(readonly=True) as s:
            from jwql_dagster.db.migrate import current_revision

            rev = current_revision(s.connection())
        return f"database {self.masked_url} reachable, schema at revision {rev}"

