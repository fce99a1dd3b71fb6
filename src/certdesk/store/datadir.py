"""The data directory: where the database and the master key live."""

import os
from dataclasses import dataclass
from pathlib import Path

from certdesk.store.database import sqlite_url

DATA_DIR_ENV = "CERTDESK_DATA_DIR"
DATABASE_URL_ENV = "CERTDESK_DATABASE_URL"
DEFAULT_DATA_DIR = "./certdesk-data"


@dataclass(frozen=True)
class DataDir:
    path: Path

    @classmethod
    def locate(cls, given: str | None) -> "DataDir":
        """`--data-dir`, else `CERTDESK_DATA_DIR`, else ./certdesk-data."""
        raw = given or os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR
        return cls(Path(raw).expanduser().absolute())

    @property
    def database_path(self) -> Path:
        return self.path / "certdesk.db"

    @property
    def master_key_path(self) -> Path:
        return self.path / "master.key"

    @property
    def database_url(self) -> str:
        """`CERTDESK_DATABASE_URL` when set (PostgreSQL), else SQLite in here."""
        return os.environ.get(DATABASE_URL_ENV) or sqlite_url(self.database_path)

    def exists(self) -> bool:
        return self.master_key_path.exists() or self.database_path.exists()
