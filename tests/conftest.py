"""Shared fixtures: a data directory on a fixed clock, and a CLI runner."""

import datetime as dt
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest

from certdesk.cli.main import main
from certdesk.services import setup
from certdesk.services.acme import renewal_info
from certdesk.services.context import Context
from certdesk.store.datadir import DataDir
from tests import postgres
from tests.pkitools import NOW


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: dt.datetime = NOW) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CERTDESK_"):
            monkeypatch.delenv(name)
    # What the scheduler remembers about ACME directories lives per process.
    renewal_info.forget_directories()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def data_dir(tmp_path: Path) -> DataDir:
    return DataDir(tmp_path / "data")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """Base URL of a PostgreSQL server started for this test session."""
    if not postgres.available():
        pytest.fail(f"PostgreSQL server binaries not found in {postgres.PG_BIN}")
    with postgres.server() as url:
        yield url


_databases = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test that takes `ctx` runs on both supported databases."""
    if request.param == "postgresql":
        base = request.getfixturevalue("postgres_url")
        name = f"certdesk_{os.getpid()}_{next(_databases)}"
        monkeypatch.setenv(
            "CERTDESK_DATABASE_URL", postgres.create_database(base, name)
        )
    return str(request.param)


@pytest.fixture
def ctx(data_dir: DataDir, clock: FakeClock, engine: str) -> Iterator[Context]:
    """An initialised appliance whose services run on the fake clock."""
    setup.init(data_dir, "test", clock)
    store = setup.open_store(data_dir)
    try:
        yield Context(store, actor="test", clock=clock)
    finally:
        store.close()


@dataclass
class CliResult:
    code: int
    out: str
    err: str


class RunCli(Protocol):
    def __call__(self, *args: str) -> CliResult: ...


@pytest.fixture
def run_cli(data_dir: DataDir, capsysbinary: pytest.CaptureFixture[bytes]) -> RunCli:
    """Run `certdesk --data-dir DATA ARGS...` in-process; returns code and output."""

    def run(*args: str) -> CliResult:
        code = main(["--data-dir", str(data_dir.path), *args])
        captured = capsysbinary.readouterr()
        return CliResult(code, captured.out.decode(), captured.err.decode())

    return run


@pytest.fixture
def initialised(run_cli: RunCli) -> RunCli:
    """`run_cli` on a data directory that `certdesk init` has set up."""
    result = run_cli("init")
    assert result.code == 0, result.err
    return run_cli


@pytest.fixture
def passphrase_file(tmp_path: Path) -> Path:
    from tests.clitools import PASSPHRASE

    path = tmp_path / "passphrase.txt"
    path.write_text(PASSPHRASE + "\n")
    return path
