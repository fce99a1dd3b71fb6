"""Running `certdesk serve` as a real process, for the serve and browser tests."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_serve(
    data_dir: Path, https: int, http: int, *extra: str, quiet: bool = False
) -> subprocess.Popen[bytes]:
    """`certdesk serve` in its own process group, on loopback ports."""
    output = subprocess.DEVNULL if quiet else subprocess.PIPE
    return subprocess.Popen(
        [
            sys.executable, "-m", "certdesk.cli.main", "--data-dir", str(data_dir),
            "serve", *extra, "--https-listen", f"127.0.0.1:{https}",
            "--http-listen", f"127.0.0.1:{http}",
        ],
        stdout=output,
        stderr=output,
        env={k: v for k, v in os.environ.items() if not k.startswith("CERTDESK_")},
        start_new_session=True,
    )  # fmt: skip


def wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited early: {process.communicate()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("serve did not start listening")


def stop_serve(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """Stop a serve from `start_serve`: SIGTERM to its group, SIGKILL if it hangs."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
