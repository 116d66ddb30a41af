"""The engine: the first connection to a fresh SQLite file waits for another process writing it."""

from __future__ import annotations

import sqlite3
import threading

from jwql_dagster.db.engine import create_jwql_engine


def test_first_connection_to_a_fresh_sqlite_file_waits_for_another_writer(tmp_path) -> None:
    """Switching a new file to WAL needs an exclusive lock, and SQLite fails that at once (no busy
    handler) while another process is writing: two runs starting on a fresh database used to crash."""
    path = tmp_path / "fresh.db"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("CREATE TABLE other_process (x)")
    commit_later = threading.Timer(0.5, writer.execute, args=("COMMIT",))
    commit_later.start()
    engine = create_jwql_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("SELECT count(*) FROM other_process").scalar() == 0
    finally:
        engine.dispose()
        commit_later.join()
        writer.close()
