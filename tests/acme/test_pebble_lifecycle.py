"""Pebbles of their own: one restarted, one requiring EAB, one rejecting nonces."""

import base64
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from certdesk.errors import InvalidInput
from certdesk.pki.keys import KeyType
from certdesk.services import setup
from certdesk.services.acme import client, ordering
from certdesk.services.acme.client import Eab
from certdesk.services.acme.responder import answering
from certdesk.services.context import Context
from certdesk.store import acme as stored_acme
from certdesk.store.datadir import DataDir
from tests.acme.conftest import options
from tests.acme.pebbletools import Pebble
from tests.servetools import free_port


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Context]:
    """A data directory on the real clock (SQLite: these tests are about the CA)."""
    data_dir = DataDir(tmp_path / "data")
    setup.init(data_dir, "test")
    store = setup.open_store(data_dir)
    try:
        yield Context(store, "test")
    finally:
        store.close()


def _own_pebble(tmp_path: Path, **settings: object) -> Pebble:
    return Pebble(tmp_path / "pebble", free_port(), **settings).start()  # type: ignore[arg-type]


def test_an_account_pebble_forgot_is_registered_again(
    live: Context, tmp_path: Path
) -> None:
    pebble = _own_pebble(tmp_path)
    try:
        with answering(live, "127.0.0.1", pebble.http_port):
            ordering.request_certificate(
                live, ["before.example.test"], KeyType.P256, options(pebble)
            )
            with live.store.transaction() as session:
                row = stored_acme.find_account(session, pebble.directory)
                assert row is not None
                first_url = row.account_url

            pebble.restart()
            issued = ordering.request_certificate(
                live, ["after.example.test"], KeyType.P256, options(pebble)
            )
    finally:
        pebble.stop()

    assert issued.identifiers == ("after.example.test",)
    with live.store.transaction() as session:
        row = stored_acme.find_account(session, pebble.directory)
        assert row is not None
        assert row.account_url != first_url


def test_external_account_binding(live: Context, tmp_path: Path) -> None:
    hmac = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    pebble = _own_pebble(tmp_path, eab_keys={"kid-1": hmac})
    try:
        with answering(live, "127.0.0.1", pebble.http_port):
            with pytest.raises(InvalidInput, match="External Account Binding"):
                ordering.request_certificate(
                    live, ["eab.example.test"], KeyType.P256, options(pebble)
                )
            with pytest.raises(client.CaError):
                ordering.request_certificate(
                    live,
                    ["eab.example.test"],
                    KeyType.P256,
                    options(pebble, eab=Eab("kid-1", hmac[::-1])),
                )
            issued = ordering.request_certificate(
                live,
                ["eab.example.test"],
                KeyType.P256,
                options(pebble, eab=Eab("kid-1", hmac)),
            )
    finally:
        pebble.stop()

    assert issued.identifiers == ("eab.example.test",)
    with live.store.transaction() as session:
        row = stored_acme.find_account(session, pebble.directory)
        assert row is not None
        assert row.eab_kid == "kid-1"


def test_rejected_nonces_are_retried_more_than_once(
    live: Context,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Pebble rejects half the nonces. At the default of 10 tries an order of
    about ten requests fails about once in a hundred; the test allows 20 so
    that it never flakes, and checks that some request needed several."""
    monkeypatch.setattr(client, "BAD_NONCE_TRIES", 20)
    pebble = _own_pebble(tmp_path, nonce_reject=50)
    caplog.set_level(logging.DEBUG, logger="certdesk.services.acme.client")
    try:
        with answering(live, "127.0.0.1", pebble.http_port):
            for number in range(3):
                ordering.request_certificate(
                    live, [f"nonce{number}.example.test"], KeyType.P256, options(pebble)
                )
    finally:
        pebble.stop()

    attempts = [
        getattr(r, "attempt", 0) for r in caplog.records if "nonce" in r.getMessage()
    ]
    assert len(attempts) > 3
    assert max(attempts) >= 2
