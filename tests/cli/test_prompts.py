"""Passphrases asked on a terminal, as a person at a shell would answer them."""

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from certdesk.cli.main import main
from tests.pkitools import three_levels

PASSPHRASE = b"typed at the prompt"


def _run_on_terminal(args: list[str], answers: list[bytes]) -> tuple[int, str]:
    """Run certdesk on a pseudo-terminal; answer each prompt in turn."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: certdesk with the terminal as its own
        os.execv(sys.executable, [sys.executable, "-m", "certdesk.cli.main", *args])
    seen = b""
    pending = list(answers)
    answered_at = 0  # an answer goes only to a prompt printed after the last one
    deadline = time.monotonic() + 30
    ended = False
    while not ended and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 1024)
            except OSError:  # the child closed the terminal: it is exiting
                ended = True
                continue
            if not chunk:
                ended = True
                continue
            seen += chunk
            # click prints the prompt text, then getpass turns echo off and
            # prints one space: only after that space is typing hidden.
            if pending and len(seen) > answered_at and seen.endswith(b": "):
                os.write(fd, pending.pop(0) + b"\n")
                answered_at = len(seen)
    os.close(fd)
    if not ended:  # still waiting for an answer: stop it, the test fails
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), seen.decode(errors="replace")


def test_import_asks_for_a_pkcs12_passphrase(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert main(["--data-dir", str(data), "init"]) == 0
    levels = three_levels("prompt.example.test")
    bundle = pkcs12.serialize_key_and_certificates(
        b"prompted", levels.leaf.key, levels.leaf.cert, None,
        serialization.BestAvailableEncryption(PASSPHRASE),
    )  # fmt: skip
    (tmp_path / "site.p12").write_bytes(bundle)

    code, screen = _run_on_terminal(
        ["--data-dir", str(data), "cert", "import", str(tmp_path / "site.p12")],
        [PASSPHRASE],
    )
    assert code == 0, screen
    assert "Passphrase:" in screen
    assert PASSPHRASE.decode() not in screen  # typed without echo
    assert "created" in screen


def test_export_with_key_asks_twice_on_a_terminal(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert main(["--data-dir", str(data), "init"]) == 0
    out = tmp_path / "default.p12"
    args = ["--data-dir", str(data), "cert", "export", "1", "--format", "p12",
            "--key", "--out", str(out)]  # fmt: skip

    code, screen = _run_on_terminal(args, [PASSPHRASE, PASSPHRASE])
    assert code == 0, screen
    assert "Repeat for confirmation:" in screen
    opened = pkcs12.load_pkcs12(out.read_bytes(), PASSPHRASE)
    assert opened.key is not None

    listed = subprocess.run(
        [sys.executable, "-m", "certdesk.cli.main", "--data-dir", str(data),
         "event", "list", "--json"],
        capture_output=True, check=True,
    )  # fmt: skip
    events = json.loads(listed.stdout)
    assert events[0]["action"] == "certificate.exported"
