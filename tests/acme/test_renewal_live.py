"""Renewal by itself in a real `certdesk serve`, against a real Pebble.

Pebble issues 45-second certificates; serve's scheduler (certdesk.toml
[renewal], checking every second) renews at a third of the lifetime left.
Clients keep connecting by SNI the whole time, each handshake verifying the
served chain against Pebble's root and the name: none may fail, the served
serial must change, and the old certificate must be gone from the store
once the new one is served.
"""

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509

from certdesk.cli.main import main
from certdesk.services import setup
from certdesk.services.context import Context
from certdesk.store import schema
from certdesk.store.datadir import DataDir
from tests.acme.pebbletools import Pebble, running_pebble
from tests.servetools import free_port, start_serve, stop_serve, wait_for_port

NAME = "live.example.test"
LIFETIME = 45


@dataclass
class Handshakes:
    ok: int = 0
    failed: list[str] = field(default_factory=list)
    serials: list[int] = field(default_factory=list)
    changed_at: float | None = None


@pytest.fixture(scope="module")
def short_pebble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:
    folder = tmp_path_factory.mktemp("pebble-short")
    with running_pebble(folder, validity_seconds=LIFETIME) as server:
        yield server


def _connect(port: int, context: ssl.SSLContext, seen: Handshakes) -> None:
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname=NAME) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError) as exc:
        seen.failed.append(f"{time.monotonic():.1f}: {exc}")
        return
    assert der is not None
    serial = x509.load_der_x509_certificate(der).serial_number
    seen.ok += 1
    if not seen.serials or seen.serials[-1] != serial:
        if seen.serials and seen.changed_at is None:
            seen.changed_at = time.monotonic()
        seen.serials.append(serial)


def test_serve_renews_by_itself_while_clients_connect(
    short_pebble: Pebble, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    assert main(["--data-dir", str(data_dir), "init"]) == 0
    (data_dir / "certdesk.toml").write_text(
        "[renewal]\ncheck_seconds = 1\npoll_seconds = 0.05\n"
    )
    https = free_port()
    process = start_serve(data_dir, https, short_pebble.http_port, quiet=True)
    try:
        wait_for_port(https, process)
        wait_for_port(short_pebble.http_port, process)
        _run(short_pebble, data_dir, https, tmp_path, capsys)
    finally:
        stop_serve(process)


def _run(
    pebble: Pebble,
    data_dir: Path,
    https: int,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(
        [
            "--data-dir", str(data_dir), "acme", "request", "--name", NAME,
            "--resolve", f"{NAME}:127.0.0.1",
            "--directory", pebble.directory,
            "--ca-bundle", str(pebble.ca_bundle),
            "--challenge-port", str(pebble.http_port),
            "--http-listen", f"127.0.0.1:{pebble.http_port}",
            "--poll-interval", "0.05",
        ]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    root = tmp_path / "pebble-root.pem"
    root.write_bytes(pebble.root_pem())
    context = ssl.create_default_context(cafile=str(root))

    store = setup.open_store(DataDir(data_dir))
    ctx = Context(store, actor="test")
    try:
        with ctx.store.transaction() as session:
            [managed] = session.query(schema.ManagedCertificate).all()
            first_id = managed.certificate_id

        # serve picks up the new certificate within its 0.5 s poll.
        warmup = Handshakes()
        deadline = time.monotonic() + 5
        while warmup.ok == 0:
            assert time.monotonic() < deadline, warmup.failed[-1:]
            _connect(https, context, warmup)
            time.sleep(0.1)

        seen = Handshakes()
        stop = threading.Event()

        def clients() -> None:
            while not stop.is_set():
                _connect(https, context, seen)
                time.sleep(0.02)

        workers = [threading.Thread(target=clients) for _ in range(4)]
        for worker in workers:
            worker.start()
        started = time.monotonic()
        removed_at = None
        try:
            while time.monotonic() - started < LIFETIME + 20:
                time.sleep(0.5)
                with ctx.store.transaction() as session:
                    gone = session.get(schema.Certificate, first_id) is None
                if gone and removed_at is None:
                    removed_at = time.monotonic()
                if removed_at is not None and time.monotonic() - removed_at > 2:
                    break
        finally:
            stop.set()
            for worker in workers:
                worker.join()
    finally:
        store.close()

    elapsed = time.monotonic() - started
    print(
        f"live renewal: {seen.ok} handshakes, {len(seen.failed)} failed, "
        f"{len(seen.serials)} serials served, old removed after "
        f"{(removed_at or 0) - started:.1f} s, watched {elapsed:.1f} s"
    )
    assert seen.failed == []
    assert removed_at is not None, "the replaced certificate was never removed"
    assert len(seen.serials) >= 2, "the served leaf never changed"
    assert seen.changed_at is not None and seen.changed_at < removed_at
    assert seen.ok > 100
