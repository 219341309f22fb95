"""The city's storage engines behind one interface (:class:`city.storage.base.Engine`).

:func:`open_engine` picks one: SQLite in the data folder by default, PostgreSQL for a
``postgresql://`` URL.
"""

from __future__ import annotations

import os
from pathlib import Path

from city.storage.base import Engine

DB_ENV = "KIOSK_CITY_DB"
SQLITE_FILE = "city.db"


def open_engine(data_dir: str | os.PathLike, db: str | None = None) -> Engine:
    """The engine for ``db`` (a ``postgresql://`` URL), else SQLite at ``data_dir/city.db``."""
    if db:
        if not db.startswith(("postgresql://", "postgres://")):
            raise ValueError(f"--db: expected a postgresql:// URL, got {db.split(':', 1)[0]}:...")
        from city.storage.postgres import PostgresEngine

        return PostgresEngine(db)
    from city.storage.sqlite import SQLiteEngine

    return SQLiteEngine(Path(data_dir) / SQLITE_FILE)


__all__ = ["open_engine", "Engine", "DB_ENV", "SQLITE_FILE"]
