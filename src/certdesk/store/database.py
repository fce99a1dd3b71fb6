"""Opening the database: engine settings, migrations, transactions.

The contract every caller relies on:

- `Store.transaction()` is the only way to change data. Everything done inside
  one `with` block commits together or not at all; an exception inside the
  block rolls it all back, so an import that fails halfway leaves nothing.
- Lookups that find nothing raise `certdesk.errors.NotFound`, never return None,
  unless their name says `find_`.
- On SQLite the database runs in WAL mode, so readers (a running `serve`) are
  never blocked by a writer (the CLI); writers wait up to `BUSY_TIMEOUT_MS`.
- The schema is migrated to the newest revision when the store is opened.
"""

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from certdesk.errors import DataDirError
from certdesk.store.sealing import MasterKey

BUSY_TIMEOUT_MS = 10_000
_MIGRATIONS = str(Path(__file__).with_name("migrations"))


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def make_engine(url: str) -> Engine:
    """An engine with the settings certdesk needs on each supported database."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", _MIGRATIONS)
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (a no-op when it is there)."""
    config = _alembic_config()
    head = ScriptDirectory.from_config(config).get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current == head:
        return
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


class Store:
    """The database and the master key that seals what it holds."""

    def __init__(self, engine: Engine, master_key: MasterKey) -> None:
        self.engine = engine
        self.master_key = master_key
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str, master_key: MasterKey) -> "Store":
        engine = make_engine(url)
        try:
            migrate(engine)
        except Exception as exc:
            engine.dispose()
            raise DataDirError(f"cannot open the database {url}: {exc}") from exc
        return cls(engine, master_key)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits at the end of the block, or not at all."""
        with self._sessions.begin() as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()
