"""Helpers for tests that drive the CLI and check its output with openssl."""

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.conftest import RunCli

# Long enough for certdesk's passphrase rule; written to files, never argv.
PASSPHRASE = "test passphrase for keys"

JSON = dict[str, Any]


def openssl(*args: str | Path, stdin: bytes | None = None) -> bytes:
    """Run `openssl ARGS...`; its standard output."""
    done = subprocess.run(
        ["openssl", *(str(a) for a in args)],
        check=True,
        capture_output=True,
        input=stdin,
    )
    return done.stdout


def openssl_all(*args: str | Path, stdin: bytes | None = None) -> str:
    """Run `openssl ARGS...`; standard output and error together, as text.

    Some commands (`pkcs12 -info`, `req -verify`) report on standard error.
    """
    done = subprocess.run(
        ["openssl", *(str(a) for a in args)],
        check=True,
        capture_output=True,
        input=stdin,
    )
    return (done.stdout + done.stderr).decode()


def openssl_fingerprint(cert: Path, *, der: bool = False) -> str:
    """SHA-256 fingerprint as openssl prints it, in certdesk's hex form."""
    inform = ["-inform", "DER"] if der else []
    out = openssl("x509", "-in", cert, *inform, "-noout", "-fingerprint", "-sha256")
    # "sha256 Fingerprint=AB:CD:..."
    return out.decode().strip().split("=", 1)[1].replace(":", "").lower()


def cli_json(run_cli: RunCli, *args: str) -> Any:
    """Run a command with --json; it must succeed; its parsed output."""
    result = run_cli(*args, "--json")
    assert result.code == 0, result.err
    return json.loads(result.out)


def show(run_cli: RunCli, cert_id: int) -> JSON:
    shown: JSON = cli_json(run_cli, "cert", "show", str(cert_id))
    return shown
