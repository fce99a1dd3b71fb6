"""`certdesk acme` from the command line, with a real `certdesk serve` answering.

Pebble validates against serve's HTTP listener; the issued certificate is
then fetched by SNI from serve's HTTPS listener and verified with openssl
against Pebble's own root.
"""

import json
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from certdesk.cli.main import main
from tests.acme.pebbletools import Pebble
from tests.clitools import openssl_all
from tests.servetools import free_port, start_serve, stop_serve, wait_for_port

PEM = Encoding.PEM


@dataclass
class Site:
    data_dir: Path
    https: int
    pebble: Pebble


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, pebble: Pebble) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("acme-serve")
    data_dir = folder / "data"
    assert main(["--data-dir", str(data_dir), "init"]) == 0
    https = free_port()
    process = start_serve(data_dir, https, pebble.http_port, quiet=True)
    try:
        wait_for_port(https, process)
        wait_for_port(pebble.http_port, process)
        yield Site(data_dir, https, pebble)
    finally:
        stop_serve(process)


def _acme(
    site: Site, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    code = main(["--data-dir", str(site.data_dir), "acme", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _request_args(site: Site, *names: str) -> list[str]:
    args = []
    for name in names:
        args += ["--name", name, "--resolve", f"{name}:127.0.0.1"]
    return [
        "request", *args,
        "--directory", site.pebble.directory,
        "--ca-bundle", str(site.pebble.ca_bundle),
        "--challenge-port", str(site.pebble.http_port),
        "--http-listen", f"127.0.0.1:{site.pebble.http_port}",
        "--poll-interval", "0.05",
    ]  # fmt: skip


def _served_chain(site: Site, name: str) -> list[x509.Certificate]:
    out = openssl_all(
        "s_client", "-connect", f"127.0.0.1:{site.https}",
        "-servername", name, "-showcerts", stdin=b"",
    )  # fmt: skip
    blocks = out.split("-----BEGIN CERTIFICATE-----")[1:]
    pems = [
        "-----BEGIN CERTIFICATE-----" + b.split("-----END CERTIFICATE-----")[0]
        + "-----END CERTIFICATE-----\n"
        for b in blocks
    ]  # fmt: skip
    return [x509.load_pem_x509_certificate(p.encode()) for p in pems]


def _served_fingerprint(site: Site, name: str) -> str:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", site.https), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).fingerprint(hashes.SHA256()).hex()


def _wait_served(site: Site, name: str, fingerprint: str) -> None:
    """serve picks up changes within a second; allow a few."""
    deadline = time.monotonic() + 5
    while _served_fingerprint(site, name) != fingerprint:
        assert time.monotonic() < deadline, f"{name} not served with {fingerprint}"
        time.sleep(0.1)


def test_request_through_serve_then_served_by_sni(
    site: Site, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    started = time.monotonic()
    code, out, err = _acme(
        site, capsys, *_request_args(site, "www.example.test"), "--json"
    )
    elapsed = time.monotonic() - started
    assert code == 0, err
    issued = json.loads(out)
    assert issued["identifiers"] == ["www.example.test"]
    print(f"issued through serve in {elapsed:.2f} s")

    _wait_served(site, "www.example.test", issued["fingerprint_sha256"])
    chain = _served_chain(site, "www.example.test")
    leaf = chain[0]
    assert leaf.fingerprint(hashes.SHA256()).hex() == issued["fingerprint_sha256"]
    root = tmp_path / "root.pem"
    root.write_bytes(site.pebble.root_pem())
    intermediates = tmp_path / "intermediates.pem"
    intermediates.write_bytes(b"".join(c.public_bytes(PEM) for c in chain[1:]))
    leaf_file = tmp_path / "leaf.pem"
    leaf_file.write_bytes(leaf.public_bytes(PEM))
    verdict = openssl_all(
        "verify", "-CAfile", root, "-untrusted", intermediates, leaf_file
    )
    assert f"{leaf_file}: OK" in verdict


def test_progress_status_and_revoke(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _acme(site, capsys, *_request_args(site, "status.example.test"))
    assert code == 0, err
    steps = [line.split(":")[0] for line in err.splitlines()]
    assert steps[:1] == ["answering"]
    assert "serve" in err.splitlines()[0]
    for step in ("preflight", "account", "order", "challenge", "validated", "issued"):
        assert step in steps
    assert out.startswith("Issued certificate ")
    cert_id = out.split()[2]

    code, out, err = _acme(site, capsys, "status", "--json")
    assert code == 0, err
    [shown] = [v for v in json.loads(out) if str(v["certificate_id"]) == cert_id]
    assert shown["state"] == "valid"
    assert shown["next_renewal_reason"] == "30 days before expiry"
    code, out, _ = _acme(site, capsys, "status")
    assert "status.example.test" in out and "valid" in out

    code, out, err = _acme(site, capsys, "revoke", cert_id, "--reason", "superseded")
    assert code == 0, err
    serial = out.split("serial ")[1].split(",")[0]
    assert site.pebble.cert_status(serial)["Status"] == "Revoked"
    code, out, _ = _acme(site, capsys, "status")
    assert "revoked" in out


def test_preflight_refuses_a_name_that_does_not_resolve_here(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _request_args(site, "x.example.test")
    # Without --resolve, this machine's resolver knows nothing of example.test.
    args = [a for a in args if a not in ("--resolve", "x.example.test:127.0.0.1")]
    code, _, err = _acme(site, capsys, *args)
    assert code == 1
    assert "x.example.test does not resolve on this appliance" in err
