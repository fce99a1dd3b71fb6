"""ACME issuance: `certdesk acme request` against certbot, one Pebble, same run.

    python bench/acme_bench.py [--count N] [--fast-poll S] [--certbot-venv DIR]

One Pebble 2.4 with its mock DNS (every name is 127.0.0.1) runs on loopback
with no validation sleep, no nonce rejection and no authorization reuse. Each
client then obtains N certificates (default 20), each for its own name, one
process per certificate, one after another:

- certdesk: `python -m certdesk.cli.main acme request --name NAME` with
  `--directory`, `--ca-bundle`, `--resolve NAME:127.0.0.1`, `--challenge-port`
  and `--http-listen 127.0.0.1:PORT`, PORT being Pebble's httpPort: no serve
  runs, so the command answers HTTP-01 itself. Twice, each time into a fresh
  data directory (`certdesk init` not timed): with the default
  `--poll-interval` (1 s, what a user gets) and with `--poll-interval S`
  (default 0.05).
- certbot: `certbot certonly --standalone` from its own virtualenv (created
  with `pip install certbot` when missing, outside the source tree), HTTP-01
  on the same port, one config directory for the run.

Both register one account on their first certificate and reuse it, make an
ECDSA P-256 key per certificate and start a fresh Python each time; certdesk
also runs its pre-flight check and stores key, chain and renewal state in
SQLite. Time is wall-clock per process; CPU is the children's user + system
time (the client only, not Pebble). Afterwards every certdesk certificate is
looked up in its store and every certbot `live/NAME/cert.pem` is read. A
progress line per certificate goes to stderr, the table to stdout; the exit
status is 1 if any certificate was not issued or not found.
"""

import argparse
import importlib.metadata
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

import certdesk
import pebble
from certdesk.services import setup
from certdesk.services.acme.status import list_managed
from certdesk.services.context import Context
from certdesk.store.datadir import DataDir
from pebble import Pebble

DEFAULT_COUNT = 20
DEFAULT_FAST_POLL = 0.05
DEFAULT_VENV = Path.home() / ".cache" / "certdesk-bench" / "venv-certbot"
DOMAIN = "bench.test"
EMAIL = "bench@example.test"
# One certificate should take seconds; this only stops a hung client.
ISSUE_TIMEOUT = 180

CERTDESK = [sys.executable, "-m", "certdesk.cli.main"]
# The argv that obtains a certificate for one name.
Command = Callable[[str], list[str]]

_START = time.perf_counter()


def progress(message: str) -> None:
    print(f"[{time.perf_counter() - _START:7.1f}s] {message}", file=sys.stderr)


@dataclass
class Attempt:
    name: str
    seconds: float
    ok: bool
    detail: str
    output: str = ""
    certificate_id: int | None = None
    # certdesk's own measure of the order, from its `--json` output.
    order_seconds: float | None = None


@dataclass
class Run:
    """N issuances by one client: wall time and the children's CPU."""

    client: str
    attempts: list[Attempt] = field(default_factory=list)
    cpu: float = 0.0
    found: int = 0

    @property
    def issued(self) -> int:
        return sum(a.ok for a in self.attempts)

    @property
    def seconds(self) -> float:
        return sum(a.seconds for a in self.attempts)

    @property
    def order_seconds(self) -> float | None:
        """Mean in-process order time, when the client reports one."""
        times = [a.order_seconds for a in self.attempts]
        known = [t for t in times if t is not None]
        return statistics.fmean(known) if known and len(known) == len(times) else None

    @property
    def failed(self) -> bool:
        return self.issued != len(self.attempts) or self.found != len(self.attempts)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else "(no output)"


def issue(name: str, argv: list[str], env: dict[str, str]) -> Attempt:
    """Run one client process for one certificate and time it."""
    start = time.perf_counter()
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, env=env, timeout=ISSUE_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        seconds = time.perf_counter() - start
        return Attempt(name, seconds, False, f"no answer in {ISSUE_TIMEOUT} s")
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        detail = f"exit {done.returncode}: {last_line(done.stderr)}"
        return Attempt(name, seconds, False, detail)
    return Attempt(name, seconds, True, last_line(done.stdout), done.stdout)


def issue_all(
    client: str, names: Sequence[str], command: Command, env: dict[str, str]
) -> Run:
    run = Run(client)
    before = children_cpu()
    for number, name in enumerate(names, 1):
        attempt = issue(name, command(name), env)
        run.attempts.append(attempt)
        verdict = "issued" if attempt.ok else "FAILED"
        progress(
            f"{client} {number}/{len(names)} {name}: {verdict} in "
            f"{attempt.seconds:.2f} s" + ("" if attempt.ok else f": {attempt.detail}")
        )
    run.cpu = children_cpu() - before
    return run


# --- certdesk ------------------------------------------------------------------


def clean_environment() -> dict[str, str]:
    """This environment without CERTDESK_*: a fresh SQLite data directory each."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CERTDESK_")}


class CertdeskRequest:
    def __init__(self, data_dir: Path, server: Pebble, poll: float | None) -> None:
        self.data_dir = data_dir
        self.server = server
        self.poll = poll

    def __call__(self, name: str) -> list[str]:
        port = str(self.server.http_port)
        argv = [
            *CERTDESK, "--data-dir", str(self.data_dir), "acme", "request",
            "--name", name, "--resolve", f"{name}:127.0.0.1",
            "--directory", self.server.directory,
            "--ca-bundle", str(self.server.ca_bundle),
            "--challenge-port", port, "--http-listen", f"127.0.0.1:{port}",
            "--json",
        ]  # fmt: skip
        if self.poll is not None:
            argv += ["--poll-interval", f"{self.poll:g}"]
        return argv


def certdesk_run(
    label: str, folder: Path, server: Pebble, names: Sequence[str], poll: float | None
) -> Run:
    data_dir = folder / "data"
    env = clean_environment()
    subprocess.run(
        [*CERTDESK, "--data-dir", str(data_dir), "init"],
        check=True,
        capture_output=True,
        env=env,
    )
    run = issue_all(label, names, CertdeskRequest(data_dir, server, poll), env)
    for attempt in run.attempts:
        if attempt.ok:
            attempt.certificate_id, attempt.order_seconds = reported(attempt.output)
    run.found = certdesk_stored(data_dir, run)
    return run


def reported(output: str) -> tuple[int | None, float | None]:
    """Certificate id and order seconds from `acme request --json` output."""
    try:
        issued = json.loads(output)
        return int(issued["certificate_id"]), float(issued["seconds"])
    except (ValueError, KeyError, TypeError):
        return None, None


def certdesk_stored(data_dir: Path, run: Run) -> int:
    """How many of the run's certificates the store holds as managed, by name."""
    store = setup.open_store(DataDir(data_dir))
    try:
        views = list_managed(Context(store, actor="bench"))
    finally:
        store.close()
    by_id = {v.certificate_id: v for v in views}
    found = 0
    for attempt in run.attempts:
        view = by_id.get(attempt.certificate_id or -1)
        if view is not None and view.identifiers == (attempt.name,):
            found += 1
        elif attempt.ok:
            progress(f"{run.client}: {attempt.name} is not in the store as issued")
    return found


# --- certbot -------------------------------------------------------------------


def certbot_binary(venv: Path) -> Path:
    """certbot in its own virtualenv, installed with pip the first time."""
    binary = venv / "bin" / "certbot"
    if binary.exists():
        return binary
    progress(f"creating {venv} and installing certbot with pip (once)")
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "certbot"],
        check=True,
    )
    return binary


class CertbotCertonly:
    def __init__(self, binary: Path, folder: Path, server: Pebble) -> None:
        self.binary = binary
        self.folder = folder
        self.server = server

    def __call__(self, name: str) -> list[str]:
        return [
            str(self.binary), "certonly", "--standalone", "--non-interactive",
            "--agree-tos", "-m", EMAIL, "--no-eff-email",
            "--server", self.server.directory,
            "--http-01-address", "127.0.0.1",
            "--http-01-port", str(self.server.http_port),
            "-d", name,
            "--config-dir", str(self.folder / "config"),
            "--work-dir", str(self.folder / "work"),
            "--logs-dir", str(self.folder / "logs"),
        ]  # fmt: skip


def certbot_run(
    binary: Path, folder: Path, server: Pebble, names: Sequence[str]
) -> Run:
    env = {**clean_environment(), "REQUESTS_CA_BUNDLE": str(server.ca_bundle)}
    run = issue_all("certbot", names, CertbotCertonly(binary, folder, server), env)
    run.found = sum(
        certbot_stored(folder / "config" / "live" / a.name / "cert.pem", a.name)
        for a in run.attempts
    )
    return run


def certbot_stored(path: Path, name: str) -> bool:
    """The certificate file exists and is for `name`."""
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except (OSError, ValueError, x509.ExtensionNotFound):
        progress(f"certbot: no readable certificate for {name} at {path}")
        return False
    return san.value.get_values_for_type(x509.DNSName) == [name]


# --- Report --------------------------------------------------------------------


def versions(certbot: Path) -> dict[str, str]:
    done = subprocess.run(
        [str(certbot), "--version"], capture_output=True, text=True, check=False
    )
    return {
        "certdesk": certdesk.__version__,
        "acme library (certdesk's)": importlib.metadata.version("acme"),
        "certbot": (done.stdout or done.stderr).strip().removeprefix("certbot "),
        "pebble": pebble.version(),
        "Python": sys.version.split()[0],
    }


def print_table(runs: Sequence[Run], reference: Run, about: dict[str, str]) -> None:
    header = (
        f"{'client':<32} {'issued':>8} {'found':>6} {'total s':>8} "
        f"{'s/cert':>7} {'median':>7} {'order s':>7} {'CPU s/cert':>10} "
        f"{'certbot/this':>12}"
    )
    print()
    print(header)
    print("-" * len(header))
    for run in runs:
        times = [a.seconds for a in run.attempts] or [float("nan")]
        count = len(run.attempts) or 1
        ratio = reference.seconds / run.seconds if run.seconds else float("nan")
        order = run.order_seconds
        order_text = f"{order:>7.3f}" if order is not None else f"{'-':>7}"
        print(
            f"{run.client:<32} {run.issued:>4}/{len(run.attempts):<3} "
            f"{run.found:>6} {run.seconds:>8.2f} {run.seconds / count:>7.3f} "
            f"{statistics.median(times):>7.3f} {order_text} {run.cpu / count:>10.3f} "
            f"{ratio:>12.2f}"
        )
    print()
    for run in runs:
        if run is not reference and run.seconds:
            print(
                f"{run.client}: certbot takes {reference.seconds / run.seconds:.1f}x "
                f"as long (wall) and {reference.cpu / run.cpu:.1f}x the CPU"
                if run.cpu
                else f"{run.client}: no CPU time recorded"
            )
    print()
    print(
        "issued = processes that exited 0; found = certdesk certificates in the "
        "store as managed for their name, certbot live/NAME/cert.pem for NAME; "
        "total s = the sum of the processes' wall times."
    )
    print(
        "Times are per process, one certificate each, one after another: "
        "interpreter start, account lookup, order, HTTP-01, finalize, storing."
    )
    print(
        "order s = certdesk's own timing of the order (pre-flight to stored, "
        "from --json); the rest of s/cert is interpreter start, imports, "
        "opening the store and starting and stopping the HTTP-01 responder."
    )
    print(
        "CPU s/cert = the client processes' user + system time (getrusage of "
        "children); Pebble's own CPU is not counted."
    )
    print("versions: " + ", ".join(f"{k} {v}" for k, v in about.items()))


# --- Main ----------------------------------------------------------------------


def names_for(client: str, count: int) -> list[str]:
    return [f"c{n:02d}.{client}.{DOMAIN}" for n in range(1, count + 1)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--count", type=int, default=DEFAULT_COUNT, help="certificates per client"
    )
    parser.add_argument(
        "--fast-poll",
        type=float,
        default=DEFAULT_FAST_POLL,
        metavar="S",
        help="certdesk's --poll-interval for its second run (default 0.05)",
    )
    parser.add_argument(
        "--certbot-venv",
        type=Path,
        default=DEFAULT_VENV,
        metavar="DIR",
        help=f"certbot's virtualenv, made when missing (default {DEFAULT_VENV})",
    )
    args = parser.parse_args(argv)
    if args.count < 1 or not 0.01 <= args.fast_poll <= 60:
        parser.error("--count must be >= 1 and --fast-poll within 0.01..60")
    if not pebble.available():
        print(
            "pebble and pebble-challtestsrv are not on PATH: "
            "`apt-get install -y pebble`, then run this again.",
            file=sys.stderr,
        )
        return 2

    binary = certbot_binary(args.certbot_venv.expanduser())
    about = versions(binary)
    progress("versions: " + ", ".join(f"{k} {v}" for k, v in about.items()))
    with tempfile.TemporaryDirectory(prefix="certdesk-acme-bench-") as tmp:
        work = Path(tmp)
        with Pebble(work / "pebble") as server:
            progress(
                f"Pebble at {server.directory}, HTTP-01 on 127.0.0.1:"
                f"{server.http_port}, {args.count} certificates per client"
            )
            runs = [
                certdesk_run(
                    "certdesk (poll 1 s, default)",
                    work / "certdesk-default",
                    server,
                    names_for("default", args.count),
                    None,
                ),
                certdesk_run(
                    f"certdesk (--poll-interval {args.fast_poll:g})",
                    work / "certdesk-fast",
                    server,
                    names_for("fast", args.count),
                    args.fast_poll,
                ),
                certbot_run(
                    binary, work / "certbot", server, names_for("certbot", args.count)
                ),
            ]
        progress("Pebble stopped; removing the temporary files")

    print_table(runs, runs[-1], about)
    failed = [r.client for r in runs if r.failed]
    if failed:
        print(f"\nnot every certificate was issued and found: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
