"""TLS handshake cost: `certdesk serve` against nginx, on loopback, same run.

    python bench/serve_bench.py [--certs N ...] [--seconds S] [--clients C]
                                [--request] [--tls {1.2,1.3}]

For each N (default 1, 100 and 1000) the benchmark

- makes N ECDSA P-256 leaves `h0.bench.test` ... `h{N-1}.bench.test`, signed
  by one intermediate under one root (with `cryptography`);
- imports every leaf, its key and the intermediate into a fresh certdesk data
  directory with `import_files`, makes `h0.bench.test` the default, and starts
  `python -m certdesk.cli.main --data-dir DIR serve` on 127.0.0.1;
- writes the same leaf + intermediate chain and key files for nginx, with one
  `server` block per certificate (`h0.bench.test` is the `default_server`),
  TLS 1.2 and 1.3, certdesk's cipher list, one worker, `return 204;`, and
  runs it in the foreground with a temporary prefix;
- cold pass: one handshake per name, in order, from one client, each chain
  verified against the root and each leaf's SAN checked: certdesk builds a
  certificate's context on its first handshake, nginx loads all at start;
- timed pass, S seconds per server: C client processes (1 or 2; the machine
  has two cores) open TCP connections and make full handshakes, each with a
  random one of the N names as SNI, a new SSLContext per process and no
  session reuse; with --request each also sends `GET /` and reads the status.
  Every 10th connection verifies the chain and checks the leaf's SAN.

Server CPU is utime + stime from /proc/PID/stat (for nginx the master and its
workers) read before and after each pass, divided by the handshakes completed.
Progress goes to stderr, the tables to stdout. The exit status is 1 if any
handshake failed or any server sent a leaf not covering the name asked for.
"""

import argparse
import contextlib
import dataclasses
import datetime as dt
import multiprocessing as mp
import os
import random
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from types import FrameType

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certdesk.services import certificates, setup
from certdesk.services.context import Context
from certdesk.services.importing import ImportFile, import_files
from certdesk.store.datadir import DataDir
from certdesk.tls.contexts import INTERMEDIATE_CIPHERS
from certs import Authority, make_ca, make_leaf

DEFAULT_CERTS = (1, 100, 1000)
DOMAIN = "bench.test"
SAMPLE_EVERY = 10
# Below this many ticks of server CPU (10 ms each at 100 Hz) a ratio means little.
MIN_TICKS = 10
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")

_START = time.perf_counter()


def progress(message: str) -> None:
    print(f"[{time.perf_counter() - _START:7.1f}s] {message}", file=sys.stderr)


class Stop(Exception):
    """SIGTERM to the benchmark: unwind through every `finally` like Ctrl-C."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Stop(f"signal {signum}")


# --- Certificates --------------------------------------------------------------


@dataclass(frozen=True)
class Leaf:
    name: str
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> bytes:
        return _pem(self.cert)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def fingerprint(self) -> str:
        return self.cert.fingerprint(hashes.SHA256()).hex()


@dataclass(frozen=True)
class Pki:
    root: Authority
    intermediate: Authority
    leaves: list[Leaf]


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def make_bench_leaf(issuer: Authority, host: str, now: dt.datetime) -> Leaf:
    key = ec.generate_private_key(ec.SECP256R1())
    return Leaf(host, make_leaf(issuer, [host], key.public_key(), now), key)


def make_pki(count: int, now: dt.datetime) -> Pki:
    root = make_ca("Serve Bench Root CA", now)
    intermediate = make_ca("Serve Bench Intermediate CA", now, parent=root)
    leaves = [
        make_bench_leaf(intermediate, f"h{i}.{DOMAIN}", now) for i in range(count)
    ]
    return Pki(root, intermediate, leaves)


# --- Processes -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited early with status {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not start listening on 127.0.0.1:{port}")


def _stat_fields(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name (field 3 onwards)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def children_of(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            if int(_stat_fields(int(entry.name))[1]) == parent:
                found.append(int(entry.name))
    return sorted(found)


@dataclass(frozen=True)
class Cpu:
    """Seconds of CPU: utime (user) and stime (system, the kernel's share)."""

    user: float
    system: float

    @property
    def total(self) -> float:
        return self.user + self.system

    def __sub__(self, other: "Cpu") -> "Cpu":
        return Cpu(self.user - other.user, self.system - other.system)


def cpu_seconds(pids: Sequence[int]) -> Cpu:
    """utime and stime of `pids` (each a whole thread group)."""
    user = system = 0
    for pid in pids:
        fields = _stat_fields(pid)
        user += int(fields[11])
        system += int(fields[12])
    return Cpu(user / CLOCK_TICKS, system / CLOCK_TICKS)


def rss_mib(pids: Sequence[int]) -> float:
    pages = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            pages += int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return pages * PAGE_BYTES / 2**20


class Server:
    """A server process the benchmark started, and how to measure it."""

    name: str = ""

    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.port = port
        self.workers: list[int] = []

    def pids(self) -> list[int]:
        return [self.process.pid]

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        stop_process(self.process)

    def problems(self) -> list[str]:
        return []


def stop_process(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Certdesk(Server):
    name = "certdesk"

    def __init__(
        self, process: subprocess.Popen[bytes], port: int, out: Path, err: Path
    ) -> None:
        super().__init__(process, port)
        self.out = out
        self.err = err

    def problems(self) -> list[str]:
        found = []
        if self.process.returncode not in (None, 0):
            found.append(f"exited with status {self.process.returncode}")
        elif self.process.returncode == 0 and "Stopped" not in self.out.read_text():
            found.append("exited 0 without printing 'Stopped'")
        lines = self.err.read_text(errors="replace").splitlines()
        return found + lines


class Nginx(Server):
    name = "nginx"

    def __init__(
        self, process: subprocess.Popen[bytes], port: int, error_log: Path
    ) -> None:
        super().__init__(process, port)
        self.error_log = error_log

    def pids(self) -> list[int]:
        self.workers = children_of(self.process.pid)
        return [self.process.pid, *self.workers]

    def stop(self) -> None:
        workers = children_of(self.process.pid) if self.alive() else self.workers
        stop_process(self.process)
        # A master killed with SIGKILL leaves its workers behind: end them too,
        # if they are still ours (same command name, not yet reaped and reused).
        for pid in workers:
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/comm").read_text().strip() == "nginx":
                    os.kill(pid, signal.SIGKILL)

    def problems(self) -> list[str]:
        if not self.error_log.exists():
            return []
        return self.error_log.read_text(errors="replace").splitlines()


def start_certdesk(data_dir: Path, folder: Path) -> Certdesk:
    https, http = free_port(), free_port()
    out, err = folder / "serve.out", folder / "serve.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "certdesk.cli.main",
                "--data-dir", str(data_dir),
                "serve", "--https-listen", f"127.0.0.1:{https}",
                "--http-listen", f"127.0.0.1:{http}",
            ],
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    return Certdesk(process, https, out, err)


def nginx_config(folder: Path, port: int, leaves: Sequence[Leaf]) -> str:
    lines = [
        "worker_processes 1;",
        f"pid {folder / 'nginx.pid'};",
        f"error_log {folder / 'error.log'} warn;",
        "events { worker_connections 4096; }",
        "http {",
        "    access_log off;",
        f"    client_body_temp_path {folder / 'body'};",
        f"    proxy_temp_path {folder / 'proxy'};",
        f"    fastcgi_temp_path {folder / 'fastcgi'};",
        f"    uwsgi_temp_path {folder / 'uwsgi'};",
        f"    scgi_temp_path {folder / 'scgi'};",
        f"    server_names_hash_max_size {max(512, 4 * len(leaves))};",
        "    server_names_hash_bucket_size 64;",
        "    ssl_protocols TLSv1.2 TLSv1.3;",
        f"    ssl_ciphers {INTERMEDIATE_CIPHERS};",
        "    ssl_prefer_server_ciphers on;",
    ]
    for number, leaf in enumerate(leaves):
        default = " default_server" if number == 0 else ""
        lines += [
            "    server {",
            f"        listen 127.0.0.1:{port} ssl{default};",
            f"        server_name {leaf.name};",
            f"        ssl_certificate {folder / 'certs' / leaf.name}.chain.pem;",
            f"        ssl_certificate_key {folder / 'certs' / leaf.name}.key;",
            "        return 204;",
            "    }",
        ]
    lines.append("}")
    return "\n".join(lines) + "\n"


def start_nginx(folder: Path, pki: Pki, leaves: Sequence[Leaf]) -> Nginx:
    port = free_port()
    certs = folder / "certs"
    certs.mkdir(parents=True)
    intermediate = _pem(pki.intermediate.cert)
    for leaf in leaves:
        (certs / f"{leaf.name}.chain.pem").write_bytes(leaf.pem + intermediate)
        key = certs / f"{leaf.name}.key"
        key.write_bytes(leaf.key_pem)
        key.chmod(0o600)
    (folder / "nginx.conf").write_text(nginx_config(folder, port, leaves))
    error_log = folder / "error.log"
    with (folder / "nginx.out").open("wb") as output:
        process = subprocess.Popen(
            [
                "nginx", "-p", str(folder), "-c", "nginx.conf",
                "-e", str(error_log), "-g", "daemon off;",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    return Nginx(process, port, error_log)


# --- certdesk data directory ---------------------------------------------------


def certdesk_data_dir(path: Path, pki: Pki, leaves: Sequence[Leaf]) -> None:
    """A fresh data directory holding `leaves`, their keys and the intermediate."""
    data_dir = DataDir(path)
    setup.init(data_dir, "bench")
    store = setup.open_store(data_dir)
    try:
        ctx = Context(store, actor="bench")
        files = [ImportFile("intermediate.pem", _pem(pki.intermediate.cert))]
        for leaf in leaves:
            files.append(ImportFile(f"{leaf.name}.crt", leaf.pem))
            files.append(ImportFile(f"{leaf.name}.key", leaf.key_pem))
        result = import_files(ctx, files, None)
        outcomes = Counter(f"{i.kind} {i.outcome}" for i in result.items)
        created = outcomes["certificate created"]
        summary = ", ".join(f"{n:,} {what}" for what, n in sorted(outcomes.items()))
        progress(f"  certdesk import: {summary}")
        if created != len(leaves) + 1:
            raise RuntimeError(
                f"expected {len(leaves) + 1:,} certificates created, got {created:,}"
            )
        certificates.set_default(ctx, leaves[0].fingerprint)
    finally:
        store.close()


# --- The client ----------------------------------------------------------------


@dataclass(frozen=True)
class LoadSpec:
    port: int
    names: tuple[str, ...]
    root_pem: bytes
    tls: str
    request: bool
    sample_every: int


@dataclass
class Tally:
    handshakes: int = 0
    errors: int = 0
    checked: int = 0
    mismatches: int = 0
    chain_errors: int = 0
    bad_status: int = 0
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    error_kinds: Counter[str] = field(default_factory=Counter)
    negotiated: str = ""

    def add(self, other: "Tally") -> None:
        self.handshakes += other.handshakes
        self.errors += other.errors
        self.checked += other.checked
        self.mismatches += other.mismatches
        self.chain_errors += other.chain_errors
        self.bad_status += other.bad_status
        self.elapsed = max(self.elapsed, other.elapsed)
        self.latencies += other.latencies
        self.error_kinds += other.error_kinds
        self.negotiated = self.negotiated or other.negotiated

    @property
    def failures(self) -> int:
        return self.errors + self.mismatches + self.chain_errors + self.bad_status


def _client_context(spec: LoadSpec, *, verify: bool) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    version = ssl.TLSVersion.TLSv1_3 if spec.tls == "1.3" else ssl.TLSVersion.TLSv1_2
    context.minimum_version = context.maximum_version = version
    context.check_hostname = False
    if verify:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cadata=spec.root_pem.decode())
    else:
        context.verify_mode = ssl.CERT_NONE
    return context


class Client:
    """Full handshakes only: a session is never passed back in, so none resumes."""

    def __init__(self, spec: LoadSpec) -> None:
        self.spec = spec
        self.plain = _client_context(spec, verify=False)
        self.verifying = _client_context(spec, verify=True)

    def connect(self, name: str, check: bool, tally: Tally) -> None:
        start = time.perf_counter()
        context = self.verifying if check else self.plain
        try:
            raw = socket.create_connection(("127.0.0.1", self.spec.port), timeout=10)
        except OSError as error:
            self._failed(tally, error)
            return
        try:
            with context.wrap_socket(raw, server_hostname=name) as tls:
                if not tally.negotiated:
                    cipher = tls.cipher()
                    tally.negotiated = f"{tls.version()} {cipher[0] if cipher else ''}"
                if check:
                    tally.checked += 1
                    if not _leaf_covers(tls, name):
                        tally.mismatches += 1
                if self.spec.request and not _request(tls, name):
                    tally.bad_status += 1
        except ssl.SSLCertVerificationError as error:
            tally.chain_errors += 1
            tally.error_kinds[f"verify: {error.verify_message}"] += 1
            return
        except (OSError, ValueError) as error:
            self._failed(tally, error)
            return
        finally:
            raw.close()
        tally.handshakes += 1
        tally.latencies.append(time.perf_counter() - start)

    @staticmethod
    def _failed(tally: Tally, error: Exception) -> None:
        tally.errors += 1
        tally.error_kinds[f"{type(error).__name__}: {error}"[:120]] += 1
        time.sleep(0.001)  # a dead server must not turn the loop into a spin


def _leaf_covers(tls: ssl.SSLSocket, name: str) -> bool:
    der = tls.getpeercert(binary_form=True)
    if der is None:
        return False
    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return False
    return name in san.value.get_values_for_type(x509.DNSName)


def _request(tls: ssl.SSLSocket, name: str) -> bool:
    """`GET /` and the status line: True for a 2xx answer."""
    tls.sendall(f"GET / HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
    head = b""
    while b"\r\n" not in head:
        chunk = tls.recv(4096)
        if not chunk:
            break
        head += chunk
    parts = head.split(b"\r\n", 1)[0].split()
    return len(parts) >= 2 and parts[0].startswith(b"HTTP/1.") and parts[1][:1] == b"2"


def load_worker(
    spec: LoadSpec,
    seconds: float,
    seed: int,
    barrier: Barrier,
    results: "Queue[Tally]",
) -> None:
    """One client process: random names, fresh connections, until the deadline."""
    # Forked from the benchmark: leave Ctrl-C to it, and die on its SIGTERM.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    client = Client(spec)
    rng = random.Random(seed)
    tally = Tally()
    barrier.wait()
    start = time.perf_counter()
    deadline = start + seconds
    count = 0
    while time.perf_counter() < deadline:
        count += 1
        client.connect(rng.choice(spec.names), count % spec.sample_every == 0, tally)
    tally.elapsed = time.perf_counter() - start
    results.put(tally)


# --- Measuring -----------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    server: str
    tally: Tally
    used: Cpu
    wall: float
    rss: float

    @property
    def rate(self) -> float:
        return self.tally.handshakes / self.wall if self.wall else 0.0

    @property
    def cpu(self) -> float:
        return self.used.total

    @property
    def system_share(self) -> float:
        return self.used.system / self.cpu if self.cpu else float("nan")

    @property
    def cpu_us(self) -> float:
        if not self.tally.handshakes:
            return float("nan")
        return self.cpu / self.tally.handshakes * 1e6

    @property
    def utilisation(self) -> float:
        return self.cpu / self.wall if self.wall else 0.0

    def latency_ms(self, quantile: float) -> float:
        ordered = sorted(self.tally.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(quantile * len(ordered)))] * 1000


def cold_pass(server: Server, spec: LoadSpec) -> Measured:
    """One verified handshake per name, in order, from this process."""
    client = Client(spec)
    tally = Tally()
    before = cpu_seconds(server.pids())
    start = time.perf_counter()
    for name in spec.names:
        client.connect(name, True, tally)
    wall = time.perf_counter() - start
    used = cpu_seconds(server.pids()) - before
    return Measured(server.name, tally, used, wall, rss_mib(server.pids()))


def timed_pass(
    server: Server, spec: LoadSpec, seconds: float, clients: int, seed: int
) -> Measured:
    context = mp.get_context("fork")
    barrier = context.Barrier(clients + 1)
    results: Queue[Tally] = context.Queue()
    workers = [
        context.Process(
            target=load_worker,
            args=(spec, seconds, seed + n, barrier, results),
            daemon=True,
        )
        for n in range(clients)
    ]
    try:
        for worker in workers:
            worker.start()
        before = cpu_seconds(server.pids())
        barrier.wait(timeout=60)
        total = Tally()
        for _ in workers:
            total.add(results.get(timeout=seconds + 60))
        used = cpu_seconds(server.pids()) - before
        for worker in workers:
            worker.join(10)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
                worker.join(5)
            if worker.is_alive():
                worker.kill()
                worker.join()
    return Measured(server.name, total, used, total.elapsed, rss_mib(server.pids()))


# --- Reporting -----------------------------------------------------------------


@dataclass(frozen=True)
class Round:
    certs: int
    import_seconds: float
    cold: list[Measured]
    timed: list[Measured]
    problems: dict[str, list[str]]

    def ratio(self, rows: Sequence[Measured]) -> str:
        """certdesk/nginx CPU per handshake, if both used enough clock ticks."""
        by = {m.server: m for m in rows}
        if min(by["certdesk"].cpu, by["nginx"].cpu) < MIN_TICKS / CLOCK_TICKS:
            return f"n/a (under {MIN_TICKS} clock ticks of server CPU)"
        return f"{by['certdesk'].cpu_us / by['nginx'].cpu_us:.2f}"


def print_round(r: Round, seconds: float, clients: int) -> None:
    print()
    print(
        f"N={r.certs:,} certificates (certdesk import {r.import_seconds:.1f} s; "
        f"server RSS after the pass, nginx = master + worker)"
    )
    print(
        f"  cold: one verified handshake per name, in order, 1 client "
        f"({r.certs:,} handshakes)"
    )
    header = (
        f"  {'server':<9} {'handshakes':>10} {'mean ms':>8} {'p50 ms':>7} "
        f"{'max ms':>7} {'CPU µs/hs':>10} {'RSS MiB':>8} {'failed':>7}"
    )
    print(header)
    print("  " + "-" * (len(header) - 2))
    for m in r.cold:
        lat = m.tally.latencies
        mean = statistics.fmean(lat) * 1000 if lat else float("nan")
        peak = max(lat) * 1000 if lat else float("nan")
        print(
            f"  {m.server:<9} {m.tally.handshakes:>10,} {mean:>8.2f} "
            f"{m.latency_ms(0.5):>7.2f} {peak:>7.1f} {m.cpu_us:>10,.0f} "
            f"{m.rss:>8.1f} {m.tally.failures:>7,}"
        )
    print(f"  cold ratio certdesk/nginx CPU per handshake: {r.ratio(r.cold)}")
    print(
        f"  timed: {seconds:g} s per server, {clients} client process(es), "
        f"random SNI among {r.certs:,} names, every {SAMPLE_EVERY}th checked"
    )
    header = (
        f"  {'server':<9} {'handshakes':>10} {'hs/s':>8} {'srv CPU':>8} "
        f"{'CPU µs/hs':>10} {'sys share':>9} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'RSS MiB':>8} "
        f"{'errors':>7} {'checked':>8} {'mismatch':>8}"
    )
    print(header)
    print("  " + "-" * (len(header) - 2))
    for m in r.timed:
        t = m.tally
        print(
            f"  {m.server:<9} {t.handshakes:>10,} {m.rate:>8,.0f} "
            f"{m.utilisation:>8.0%} {m.cpu_us:>10,.0f} {m.system_share:>9.0%} "
            f"{m.latency_ms(0.5):>7.2f} "
            f"{m.latency_ms(0.99):>7.2f} {m.rss:>8.1f} "
            f"{t.errors + t.bad_status:>7,} {t.checked:>8,} "
            f"{t.mismatches + t.chain_errors:>8,}"
        )
    print(f"  ratio certdesk/nginx CPU per handshake: {r.ratio(r.timed)}")
    negotiated = ", ".join(f"{m.server} {m.tally.negotiated}" for m in r.timed)
    print(f"  negotiated: {negotiated}")
    for m in [*r.cold, *r.timed]:
        for kind, n in m.tally.error_kinds.most_common(5):
            print(f"  {m.server} client error x{n}: {kind}")
    for server, lines in r.problems.items():
        if lines:
            print(f"  {server} reported {len(lines):,} line(s), first ones:")
            for line in lines[:5]:
                print(f"    {line[:160]}")


def describe(args: argparse.Namespace, negotiated: str) -> None:
    request = (
        "then `GET / HTTP/1.1` (Connection: close) and the status line read "
        "(certdesk answers 200 with its landing page, nginx 204)"
        if args.request
        else "no HTTP request: the client closes right after its handshake"
    )
    print()
    print(
        f'A "handshake" here: a new TCP connection to 127.0.0.1, a full TLS '
        f"{args.tls} handshake (negotiated: {negotiated or 'unknown'}; OpenSSL's "
        "default key exchange groups)"
    )
    print(
        "  with an ECDSA P-256 leaf + intermediate chain, SNI set, no session "
        f"resumption; {request}; then close."
    )
    print(
        "  Server CPU = utime + stime from /proc/PID/stat over the pass "
        "(certdesk: its one process, all threads; nginx: master + 1 worker)"
    )
    print(
        "  divided by handshakes completed; it includes the kernel's TCP work "
        "and, for certdesk, its store poll every 0.5 s."
    )


def summary(rounds: Sequence[Round]) -> None:
    print()
    for r in rounds:
        by = {m.server: m.cpu_us for m in r.timed}
        print(
            f"N={r.certs}: certdesk {by['certdesk']:,.0f} µs CPU/handshake, "
            f"nginx {by['nginx']:,.0f} µs, ratio {r.ratio(r.timed)}"
        )


# --- Main ----------------------------------------------------------------------


def run_round(
    count: int, pki: Pki, folder: Path, args: argparse.Namespace, seed: int
) -> Round:
    leaves = pki.leaves[:count]
    folder.mkdir()
    progress(f"N={count}: importing into a fresh certdesk data directory")
    start = time.perf_counter()
    certdesk_data_dir(folder / "data", pki, leaves)
    import_seconds = time.perf_counter() - start
    spec = LoadSpec(
        port=0,
        names=tuple(leaf.name for leaf in leaves),
        root_pem=_pem(pki.root.cert),
        tls=args.tls,
        request=args.request,
        sample_every=SAMPLE_EVERY,
    )
    certdesk: Server | None = None
    nginx: Server | None = None
    try:
        certdesk = start_certdesk(folder / "data", folder)
        nginx = start_nginx(folder / "nginx", pki, leaves)
        wait_for_port(certdesk.port, certdesk.process, "certdesk serve")
        wait_for_port(nginx.port, nginx.process, "nginx")
        progress(f"N={count}: servers up (certdesk pid {certdesk.process.pid}, "
                 f"nginx pids {nginx.pids()})")  # fmt: skip
        cold, timed = [], []
        servers: list[Server] = [certdesk, nginx]
        for server in servers:
            server_spec = dataclasses.replace(spec, port=server.port)
            progress(f"N={count}: {server.name} cold pass")
            cold.append(cold_pass(server, server_spec))
            progress(f"N={count}: {server.name} timed pass, {args.seconds:g} s")
            timed.append(
                timed_pass(server, server_spec, args.seconds, args.clients, seed)
            )
            if not server.alive():
                raise RuntimeError(f"{server.name} died during the run")
    finally:
        for started in (certdesk, nginx):
            if started is not None:
                started.stop()
    problems = {s.name: s.problems() for s in (certdesk, nginx) if s is not None}
    return Round(count, import_seconds, cold, timed, problems)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--certs",
        type=int,
        nargs="+",
        default=list(DEFAULT_CERTS),
        metavar="N",
        help="certificate counts to run, each in turn (default: 1 100 1000)",
    )
    parser.add_argument(
        "--seconds", type=float, default=5.0, help="timed pass per server per N"
    )
    parser.add_argument(
        "--clients",
        type=int,
        default=2,
        choices=(1, 2),
        help="client processes in the timed pass (default 2)",
    )
    parser.add_argument(
        "--request", action="store_true", help="send GET / after each handshake"
    )
    parser.add_argument("--tls", choices=("1.2", "1.3"), default="1.3")
    parser.add_argument("--seed", type=int, default=1, help="for the random names")
    args = parser.parse_args(argv)
    if min(args.certs) < 1 or args.seconds <= 0:
        parser.error("--certs must be >= 1 and --seconds > 0")

    try:
        version = subprocess.run(
            ["nginx", "-v"], capture_output=True, check=True, text=True
        ).stderr.strip()
    except (OSError, subprocess.CalledProcessError):
        print(
            "nginx is not on PATH. Install it, e.g. `apt-get install -y nginx` "
            "(run `apt-get update` first if needed), then run this again.",
            file=sys.stderr,
        )
        return 2

    # A fresh SQLite data directory each time, whatever the caller's setup.
    for name in [n for n in os.environ if n.startswith("CERTDESK_")]:
        progress(f"ignoring {name} from the environment")
        del os.environ[name]
    signal.signal(signal.SIGTERM, _on_sigterm)

    progress(f"{version}; Python {sys.version.split()[0]}, {ssl.OPENSSL_VERSION}")
    now = dt.datetime.now(dt.UTC)
    progress(f"making {max(args.certs):,} ECDSA P-256 leaves")
    pki = make_pki(max(args.certs), now)
    rounds: list[Round] = []
    try:
        with tempfile.TemporaryDirectory(prefix="certdesk-serve-bench-") as tmp:
            for number, count in enumerate(args.certs):
                folder = Path(tmp) / f"{number}-n{count}"
                rounds.append(run_round(count, pki, folder, args, args.seed))
            progress("removing the temporary files")
    except (KeyboardInterrupt, Stop):
        progress("interrupted: servers and clients stopped, temporary files removed")
        return 130

    negotiated = next((m.tally.negotiated for r in rounds for m in r.timed), "")
    describe(args, negotiated)
    for r in rounds:
        print_round(r, args.seconds, args.clients)
    summary(rounds)
    failed = sum(m.tally.failures for r in rounds for m in [*r.cold, *r.timed])
    if failed:
        print(f"\n{failed:,} failed or mismatched handshakes: see the tables above")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
