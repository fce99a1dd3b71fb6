"""`certdesk serve` as a user runs it: a real process, real handshakes.

Two independent TLS clients look at what is served: Python's `ssl` and the
`openssl s_client` command line; `curl` checks the HTTP side.
"""

import contextlib
import datetime as dt
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from certdesk.cli.main import main
from tests.pkitools import Issued, ThreeLevels, make_leaf, three_levels
from tests.servetools import free_port, start_serve, wait_for_port

NOW = dt.datetime.now(dt.UTC)


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    data_dir: Path
    https: int
    http: int
    levels: ThreeLevels
    wildcard: Issued
    expired: Issued
    renewed: Issued
    idn: Issued

    def cli(self, *args: str) -> None:
        assert main(["--data-dir", str(self.data_dir), *args]) == 0


def _write(folder: Path, name: str, data: bytes) -> str:
    path = folder / name
    path.write_bytes(data)
    return str(path)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("serve")
    data_dir = folder / "data"
    levels = three_levels("site.example.test", now=NOW)
    wildcard = make_leaf(levels.intermediate, "*.wild.example.test", now=NOW)
    expired = make_leaf(
        levels.intermediate,
        "renewal.example.test",
        now=NOW,
        not_before=NOW - dt.timedelta(days=100),
        days=30,
    )
    renewed = make_leaf(levels.intermediate, "renewal.example.test", now=NOW)
    idn = make_leaf(levels.intermediate, "xn--bcher-kva.example.test", now=NOW)

    assert main(["--data-dir", str(data_dir), "init"]) == 0
    files = [_write(folder, "chain.pem", levels.intermediate.pem + levels.root.pem)]
    for number, issued in enumerate([levels.leaf, wildcard, expired, renewed, idn]):
        files.append(_write(folder, f"{number}.pem", issued.pem))
        files.append(_write(folder, f"{number}.key", issued.key_pem))
    assert main(["--data-dir", str(data_dir), "cert", "import", *files]) == 0

    https, http = free_port(), free_port()
    process = start_serve(data_dir, https, http)
    wait_for_port(https, process)
    wait_for_port(http, process)
    yield Server(
        process, data_dir, https, http, levels, wildcard, expired, renewed, idn
    )
    if process.poll() is None:
        process.kill()
        process.communicate()


def _served(server: Server, name: str | None) -> x509.Certificate:
    """The leaf the server sends for `name`, through Python's ssl."""
    client = ssl.create_default_context()
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", server.https), timeout=5) as raw,
        client.wrap_socket(raw, server_hostname=name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
        assert der is not None
        return x509.load_der_x509_certificate(der)


def _fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def _openssl_leaf(port: int, *args: str) -> tuple[str, str]:
    """(leaf SHA-256 fingerprint, full s_client output) as openssl sees it."""
    done = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", *args],
        input=b"",
        capture_output=True,
        timeout=10,
        check=False,
    )
    text = done.stdout.decode()
    pem = text[text.index("-----BEGIN CERTIFICATE-----") :]
    pem = pem[: pem.index("-----END CERTIFICATE-----") + 25]
    leaf = x509.load_pem_x509_certificate(pem.encode())
    return _fingerprint(leaf), text


def _default_fingerprint(server: Server) -> str:
    return _fingerprint(_served(server, None))


def test_exact_name_gets_its_certificate_and_chain(server: Server) -> None:
    assert _served(server, "site.example.test") == server.levels.leaf.cert
    _, text = _openssl_leaf(
        server.https, "-servername", "site.example.test", "-showcerts"
    )
    sent = x509.load_pem_x509_certificates("".join(_pem_blocks(text)).encode())
    assert [_fingerprint(c) for c in sent] == [
        server.levels.leaf.fingerprint,
        server.levels.intermediate.fingerprint,
    ]  # leaf and intermediate; the root stays with the client


def _pem_blocks(text: str) -> list[str]:
    end = "-----END CERTIFICATE-----"
    blocks = []
    for part in text.split("-----BEGIN CERTIFICATE-----")[1:]:
        blocks.append(
            "-----BEGIN CERTIFICATE-----" + part[: part.index(end)] + end + "\n"
        )
    return blocks


def test_openssl_sees_the_same_and_verifies_the_chain(
    server: Server, tmp_path: Path
) -> None:
    root = tmp_path / "root.pem"
    root.write_bytes(server.levels.root.pem)
    fingerprint, text = _openssl_leaf(
        server.https,
        "-servername", "site.example.test", "-CAfile", str(root),
        "-verify_hostname", "site.example.test", "-showcerts",
    )  # fmt: skip
    assert fingerprint == server.levels.leaf.fingerprint
    assert "Verify return code: 0 (ok)" in text


def test_wildcard_covers_exactly_one_label(server: Server) -> None:
    assert _served(server, "a.wild.example.test") == server.wildcard.cert
    fingerprint, _ = _openssl_leaf(server.https, "-servername", "b.wild.example.test")
    assert fingerprint == server.wildcard.fingerprint
    default = _default_fingerprint(server)
    assert _fingerprint(_served(server, "wild.example.test")) == default
    assert _fingerprint(_served(server, "a.b.wild.example.test")) == default


def test_unknown_names_and_no_sni_get_the_default(server: Server) -> None:
    default = _default_fingerprint(server)
    assert _fingerprint(_served(server, "nothing.example.org")) == default
    fingerprint, _ = _openssl_leaf(server.https, "-noservername")
    assert fingerprint == default


def test_valid_certificate_beats_an_expired_one(server: Server) -> None:
    assert _served(server, "renewal.example.test") == server.renewed.cert


def test_internationalised_name_matches_its_a_label_san(server: Server) -> None:
    assert _served(server, "bücher.example.test") == server.idn.cert
    assert _served(server, "XN--BCHER-KVA.example.test.") == server.idn.cert


def test_only_tls_12_and_13(server: Server) -> None:
    for version in ("-tls1_2", "-tls1_3"):
        fingerprint, _ = _openssl_leaf(
            server.https, version, "-servername", "site.example.test"
        )
        assert fingerprint == server.levels.leaf.fingerprint
    old = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{server.https}", "-tls1_1"],
        input=b"",
        capture_output=True,
        timeout=10,
        check=False,
    )
    assert old.returncode != 0
    assert b"BEGIN CERTIFICATE" not in old.stdout


def test_https_sends_hsts_and_http_redirects(server: Server) -> None:
    page = subprocess.run(
        ["curl", "-sk", "-D", "-",
         "--resolve", f"site.example.test:{server.https}:127.0.0.1",
         f"https://site.example.test:{server.https}/"],
        capture_output=True, timeout=10, check=True,
    ).stdout.decode()  # fmt: skip
    assert page.startswith("HTTP/1.1 200")
    assert "strict-transport-security: max-age=31536000" in page.lower()

    redirect = subprocess.run(
        ["curl", "-s", "-D", "-", "-o", "/dev/null",
         f"http://127.0.0.1:{server.http}/some/path?q=1"],
        capture_output=True, timeout=10, check=True,
    ).stdout.decode()  # fmt: skip
    assert redirect.startswith("HTTP/1.1 301")
    assert f"location: https://127.0.0.1:{server.https}/some/path?q=1" in redirect


def test_unknown_challenge_token_is_404(server: Server) -> None:
    url = f"http://127.0.0.1:{server.http}/.well-known/acme-challenge/unknown"
    code = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url],
        capture_output=True, timeout=10, check=True,
    ).stdout  # fmt: skip
    assert code == b"404"


def test_strangers_are_sent_to_sign_in_and_the_api_wants_a_token(
    server: Server,
) -> None:
    def fetch(path: str) -> str:
        return subprocess.run(
            ["curl", "-sk", "-D", "-", "-o", "/dev/null",
             f"https://127.0.0.1:{server.https}{path}"],
            capture_output=True, timeout=10, check=True,
        ).stdout.decode()  # fmt: skip

    page = fetch("/appliance")
    assert page.startswith("HTTP/1.1 303")
    assert "location: /appliance/login?next=%2Fappliance" in page
    assert "strict-transport-security: max-age=31536000" in page

    api = fetch("/api/v1/certificates")
    assert api.startswith("HTTP/1.1 401")
    assert "www-authenticate: Bearer" in api


def _wait_until(check: object, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        time.sleep(0.1)
    raise AssertionError("the change was not served in time")


def test_default_change_is_served_live_and_open_connections_survive(
    server: Server,
) -> None:
    client = ssl.create_default_context()
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection(("127.0.0.1", server.https), timeout=5)
    with client.wrap_socket(raw) as held:
        before = _default_fingerprint(server)
        views = main(["--data-dir", str(server.data_dir), "cert", "list"])
        assert views == 0
        server.cli("cert", "default", "site.example.test")
        started = time.monotonic()
        _wait_until(
            lambda: _default_fingerprint(server) == server.levels.leaf.fingerprint
        )
        # Polled every 0.5 s; a second is the promise, with room for a busy CI.
        assert time.monotonic() - started < 1.5
        assert before != server.levels.leaf.fingerprint

        # The connection opened before the change still works.
        held.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert held.recv(64).startswith(b"HTTP/1.1 200")


def test_testssl_finds_only_modern_protocols_and_ciphers(
    server: Server, tmp_path: Path
) -> None:
    report = tmp_path / "testssl.json"
    subprocess.run(
        ["testssl", "--nodns", "none", "--ip", "127.0.0.1", "--quiet", "--color", "0",
         "--protocols", "--std", "--jsonfile", str(report),
         f"127.0.0.1:{server.https}"],
        capture_output=True, timeout=180, check=False,
    )  # fmt: skip
    findings = {f["id"]: f["finding"] for f in json.loads(report.read_text())}
    for old in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
        assert findings[old] == "not offered", old
    assert findings["TLS1_2"] == "offered"
    assert findings["TLS1_3"].startswith("offered")
    weak = ("NULL", "aNULL", "EXPORT", "LOW", "3DES_IDEA", "AVERAGE")
    for category in weak:
        assert findings[f"cipherlist_{category}"] == "not offered", category
    assert findings["cipherlist_STRONG"] == "offered"


def test_sigterm_stops_cleanly(server: Server) -> None:
    server.process.send_signal(signal.SIGTERM)
    out, err = server.process.communicate(timeout=10)
    assert server.process.returncode == 0, err.decode()
    assert b"Stopped" in out
    assert b"Traceback" not in err


def test_first_start_initialises_and_workers_share_the_port(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh"
    https, http = free_port(), free_port()
    process = start_serve(data_dir, https, http, "--workers", "2")
    try:
        wait_for_port(https, process)
        workers = subprocess.run(
            ["pgrep", "-P", str(process.pid), "-f", "spawn_main"],
            capture_output=True,
            check=False,
        ).stdout.split()
        assert len(workers) == 2
        _, text = _openssl_leaf(https, "-servername", "anything.example.test")
        assert "certdesk factory default" in text
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    assert process.returncode == 0, err.decode()
    assert b"Initialised" in out
    assert b"2 workers" in out
    assert b"Stopped" in out
    for pid in workers:
        assert not Path(f"/proc/{int(pid)}").exists()


def test_workers_stop_when_their_parent_is_killed(tmp_path: Path) -> None:
    https, http = free_port(), free_port()
    process = start_serve(tmp_path / "d", https, http, "--workers", "2", quiet=True)
    try:
        wait_for_port(https, process)
        workers = subprocess.run(
            ["pgrep", "-P", str(process.pid), "-f", "spawn_main"],
            capture_output=True,
            check=False,
        ).stdout.split()
        assert len(workers) == 2
        process.kill()
        process.wait(timeout=5)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(
            Path(f"/proc/{int(pid)}").exists() for pid in workers
        ):
            time.sleep(0.2)
        alive = [pid for pid in workers if Path(f"/proc/{int(pid)}").exists()]
        assert alive == []
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def test_an_address_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable, "-m", "certdesk.cli.main",
                "--data-dir", str(tmp_path / "d"), "serve",
                "--https-listen", f"127.0.0.1:{port}",
                "--http-listen", f"127.0.0.1:{free_port()}",
            ],
            capture_output=True,
            timeout=30,
            check=False,
            env={k: v for k, v in os.environ.items() if not k.startswith("CERTDESK_")},
        )  # fmt: skip
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr.decode()
    assert b"Traceback" not in result.stderr
