"""Pebble and its mock DNS on loopback, for benchmarks that talk ACME.

The benchmarks do not import from tests/, so this is their own small harness.
pebble-challtestsrv answers every name with 127.0.0.1 (and no AAAA, which
Pebble would dial without falling back), so Pebble's HTTP-01 validation comes
back to whichever client listens on `http_port`. Pebble's own HTTPS uses a
certificate for `localhost` under a throwaway root: clients trust `ca_bundle`.
"""

import datetime as dt
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path
from types import TracebackType

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certs import make_ca, make_leaf

START_SECONDS = 20.0

# Deterministic and quick: no random sleep before each validation, no valid
# nonce rejected on purpose, and a fresh authorization (a real challenge) for
# every order.
ENVIRONMENT = {
    "PEBBLE_VA_NOSLEEP": "1",
    "PEBBLE_WFE_NONCEREJECT": "0",
    "PEBBLE_AUTHZREUSE": "0",
}


def available() -> bool:
    return all(shutil.which(b) for b in ("pebble", "pebble-challtestsrv"))


def version() -> str:
    """The Debian package version; Pebble 2.4.0 itself has no -version flag."""
    try:
        done = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Version}", "pebble"],
            capture_output=True,
            check=True,
            text=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return done.stdout.strip() or "unknown"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class Pebble:
    """One Pebble + mock DNS in `folder`; use as a context manager."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.http_port = free_port()
        self.acme_port = free_port()
        self.management_port = free_port()
        self.dns_port = free_port()
        self.dns_management_port = free_port()
        self.ca_bundle = folder / "pebble-tls-root.pem"
        self._processes: list[subprocess.Popen[bytes]] = []

    @property
    def directory(self) -> str:
        # `localhost`: the name in Pebble's TLS certificate.
        return f"https://localhost:{self.acme_port}/dir"

    def pids(self) -> list[int]:
        return [p.pid for p in self._processes]

    def _write_config(self) -> Path:
        now = dt.datetime.now(dt.UTC)
        root = make_ca("ACME Bench Pebble TLS Root", now)
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = make_leaf(root, ["localhost"], key.public_key(), now)
        cert_path = self.folder / "pebble-tls.pem"
        key_path = self.folder / "pebble-tls.key"
        self.ca_bundle.write_bytes(root.cert.public_bytes(serialization.Encoding.PEM))
        cert_path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(_pem_key(key))
        config = {
            "pebble": {
                "listenAddress": f"127.0.0.1:{self.acme_port}",
                "managementListenAddress": f"127.0.0.1:{self.management_port}",
                "certificate": str(cert_path),
                "privateKey": str(key_path),
                "httpPort": self.http_port,
                "tlsPort": free_port(),
                "ocspResponderURL": "",
                "externalAccountBindingRequired": False,
            }
        }
        path = self.folder / "pebble.json"
        path.write_text(json.dumps(config, indent=2))
        return path

    def _spawn(self, argv: list[str], log_name: str, env: dict[str, str]) -> None:
        with (self.folder / log_name).open("ab") as log:
            self._processes.append(
                subprocess.Popen(
                    argv, stdout=log, stderr=log, env=env, start_new_session=True
                )
            )

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self._write_config()
        dns = [
            "pebble-challtestsrv",
            "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
            "-dns01", f"127.0.0.1:{self.dns_port}",
            "-http01", "", "-https01", "", "-tlsalpn01", "",
            "-management", f"127.0.0.1:{self.dns_management_port}",
        ]  # fmt: skip
        self._spawn(dns, "challtestsrv.log", dict(os.environ))
        pebble = [
            "pebble", "-config", str(config),
            "-dnsserver", f"127.0.0.1:{self.dns_port}", "-strict=false",
        ]  # fmt: skip
        self._spawn(pebble, "pebble.log", {**os.environ, **ENVIRONMENT})
        self._wait_ready()

    def _wait_ready(self) -> None:
        context = ssl.create_default_context(cafile=str(self.ca_bundle))
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            for process in self._processes:
                if process.poll() is not None:
                    raise RuntimeError(
                        f"{process.args!r} exited with status "
                        f"{process.returncode}; see the logs in {self.folder}"
                    )
            try:
                with urllib.request.urlopen(
                    self.directory, context=context, timeout=2
                ) as answer:
                    answer.read()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"Pebble did not answer {self.directory}")

    def stop(self) -> None:
        while self._processes:
            process = self._processes.pop()
            if process.poll() is not None:
                continue
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def __enter__(self) -> "Pebble":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
