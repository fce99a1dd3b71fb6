"""A Pebble per test process (so xdist workers never share ports), and helpers."""

from collections.abc import Iterator

import pytest

from certdesk.services.acme import directories, preflight
from certdesk.services.acme.client import Polling
from certdesk.services.acme.ordering import OrderOptions
from tests.acme.pebbletools import Pebble, running_pebble

# Pebble answers in milliseconds; a short interval keeps the suite quick.
FAST = Polling(interval=0.05, timeout=30)


@pytest.fixture(scope="session")
def pebble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:
    with running_pebble(tmp_path_factory.mktemp("pebble")) as server:
        yield server


def loopback_names(name: str) -> list[str]:
    """Names under example.test are at 127.0.0.1 here, as the mock DNS says."""
    if name.endswith(".example.test"):
        return ["127.0.0.1"]
    return preflight.system_resolver(name)


def options(server: Pebble, *, check: bool = True, **extra: object) -> OrderOptions:
    probe = preflight.Preflight(server.http_port, loopback_names) if check else None
    return OrderOptions(
        directories.choose(server.directory, server.ca_bundle.read_bytes()),
        polling=FAST,
        preflight=probe,
        **extra,  # type: ignore[arg-type]
    )
