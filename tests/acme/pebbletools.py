"""A real Pebble (and its mock DNS) on loopback, for the ACME tests.

Pebble's own HTTPS certificate is minted here under a throwaway CA, which the
client is then told to trust (`ca_bundle`). Every name resolves to 127.0.0.1
for Pebble only, through `pebble-challtestsrv`; this machine's resolver is
untouched. See shared/reference/pebble.md for the settings used.
"""

import contextlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.pkitools import loopback_server
from tests.servetools import free_port

START_TIMEOUT = 15.0


def available() -> bool:
    return bool(shutil.which("pebble") and shutil.which("pebble-challtestsrv"))


def _mint_tls(folder: Path) -> tuple[Path, Path, Path]:
    """Pebble's HTTPS certificate and the CA the client trusts for it."""
    ca, leaf = loopback_server("certdesk test Pebble TLS CA")
    bundle = folder / "pebble-tls-ca.pem"
    bundle.write_bytes(ca.pem)
    cert = folder / "pebble-tls.pem"
    cert.write_bytes(leaf.pem)
    key_path = folder / "pebble-tls.key"
    key_path.write_bytes(leaf.key_pem)
    return bundle, cert, key_path


@dataclass
class Pebble:
    """One Pebble with its mock DNS; `http_port` is where it validates HTTP-01."""

    folder: Path
    http_port: int
    eab_keys: dict[str, str] | None = None
    nonce_reject: int = 0
    validity_seconds: int | None = None
    ca_bundle: Path = field(init=False)
    acme_port: int = field(init=False)
    management_port: int = field(init=False)
    dns_port: int = field(init=False)
    dns_management_port: int = field(init=False)
    _processes: list[subprocess.Popen[bytes]] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.ca_bundle, cert, key = _mint_tls(self.folder)
        self.acme_port, self.management_port = free_port(), free_port()
        self.dns_port, self.dns_management_port = free_port(), free_port()
        settings: dict[str, Any] = {
            "listenAddress": f"127.0.0.1:{self.acme_port}",
            "managementListenAddress": f"127.0.0.1:{self.management_port}",
            "certificate": str(cert),
            "privateKey": str(key),
            "httpPort": self.http_port,
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": self.eab_keys is not None,
        }
        if self.eab_keys is not None:
            settings["externalAccountMACKeys"] = self.eab_keys
        if self.validity_seconds is not None:
            settings["certificateValidityPeriod"] = self.validity_seconds
        self.config = self.folder / "pebble-config.json"
        self.config.write_text(json.dumps({"pebble": settings}, indent=2))

    @property
    def directory(self) -> str:
        return f"https://127.0.0.1:{self.acme_port}/dir"

    def start(self) -> "Pebble":
        log = (self.folder / "dns.log").open("ab")
        dns = [
            "pebble-challtestsrv",
            "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
            "-dns01", f"127.0.0.1:{self.dns_port}",
            "-http01", "", "-https01", "", "-tlsalpn01", "",
            "-management", f"127.0.0.1:{self.dns_management_port}",
        ]  # fmt: skip
        with log:
            self._processes.append(
                subprocess.Popen(dns, stdout=log, stderr=log, start_new_session=True)
            )
        self._start_pebble()
        return self

    def _start_pebble(self) -> None:
        env = {
            **os.environ,
            "PEBBLE_VA_NOSLEEP": "1",
            "PEBBLE_WFE_NONCEREJECT": str(self.nonce_reject),
            "PEBBLE_AUTHZREUSE": "0",
        }
        with (self.folder / "pebble.log").open("ab") as log:
            process = subprocess.Popen(
            [
                "pebble", "-config", str(self.config),
                "-dnsserver", f"127.0.0.1:{self.dns_port}", "-strict=false",
                ],
                stdout=log,
                stderr=log,
                env=env,
                start_new_session=True,
            )  # fmt: skip
        self._processes.append(process)
        self._wait_ready(process)

    def _wait_ready(self, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                log = (self.folder / "pebble.log").read_text()
                raise AssertionError(f"pebble exited: {log[-2000:]}")
            try:
                self._get(self.directory)
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("pebble did not start")

    def restart(self) -> None:
        """Stop and start Pebble itself: it forgets accounts and its CA."""
        process = self._processes.pop()
        _stop(process)
        self._start_pebble()

    def stop(self) -> None:
        while self._processes:
            _stop(self._processes.pop())

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_bundle))

    def _get(self, url: str) -> bytes:
        with urllib.request.urlopen(url, context=self._context(), timeout=5) as r:
            body: bytes = r.read()
            return body

    def management(self, path: str) -> bytes:
        return self._get(f"https://127.0.0.1:{self.management_port}{path}")

    def root_pem(self) -> bytes:
        return self.management("/roots/0")

    def intermediate_pem(self) -> bytes:
        return self.management("/intermediates/0")

    def cert_status(self, serial_hex: str) -> dict[str, Any]:
        status: dict[str, Any] = json.loads(
            self.management(f"/cert-status-by-serial/{serial_hex}")
        )
        return status

    def dns(self, path: str, body: dict[str, Any]) -> None:
        """Tell the mock DNS something (`/set-servfail`, `/clear-servfail`, ...)."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.dns_management_port}{path}",
            data=json.dumps(body).encode(),
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as r:
            r.read()


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextlib.contextmanager
def running_pebble(
    folder: Path, http_port: int | None = None, *, validity_seconds: int | None = None
) -> Iterator[Pebble]:
    """A started Pebble, stopped afterwards. A missing pebble fails the test:
    the test command installs it."""
    if not available():
        pytest.fail("pebble is not installed; scripts/test.sh installs it")
    server = Pebble(
        folder, http_port or free_port(), validity_seconds=validity_seconds
    ).start()
    try:
        yield server
    finally:
        server.stop()
