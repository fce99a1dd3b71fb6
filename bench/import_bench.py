"""Import throughput: certdesk's import against cryptography's raw parse rate.

    python bench/import_bench.py [--count N] [--keyed M] [--key-pool K]

Phase 1 writes N leaf certificates (signed by one intermediate under one root)
as PEM files, plus the intermediate and the root, then times

- raw: for every file, read its bytes, `x509.load_pem_x509_certificate`, and
  read the subject, issuer, validity, public key and extensions;
- certdesk: a fresh data directory (`setup.init` + `open_store`, not timed),
  then reading the same files and one `import_files(ctx, files, None)` batch,
  end to end including the database commit.

Phase 2 does the same for M certificates with their private keys (half RSA
2048, half ECDSA P-256, each key in its own PEM file next to its certificate)
plus the same two chain files; raw also loads each key with
`serialization.load_pem_private_key`.

The Mozilla root store that certdesk consults is parsed once before timing
(a CLI import pays that once per run); its cost is printed separately.
Progress goes to stderr, the results table to stdout.
"""

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from certdesk.services import setup
from certdesk.services.context import Context
from certdesk.services.importing import ImportFile, ImportResult, import_files
from certdesk.services.trust import mozilla_roots
from certdesk.store.datadir import DataDir
from certs import Authority, make_ca, make_leaf

TARGET_RATIO = 0.10

Key = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

_START = time.perf_counter()


def progress(message: str) -> None:
    print(f"[{time.perf_counter() - _START:7.1f}s] {message}", file=sys.stderr)


# --- Generating the files ------------------------------------------------------


def _leaf(
    issuer: Authority,
    number: int,
    public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
    now: dt.datetime,
) -> x509.Certificate:
    host = f"host{number:05d}.bench.example"
    return make_leaf(issuer, [host, f"www.{host}"], public_key, now)


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: Key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _rsa_2048_der(_: int) -> bytes:
    """A fresh RSA 2048 key as PKCS#8 DER (picklable, for worker processes)."""
    key = rsa.generate_private_key(65537, 2048)
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def rsa_keys(count: int) -> list[rsa.RSAPrivateKey]:
    if count == 0:
        return []
    # Worker processes find the function through __main__, which is not this
    # script when run under a profiler (python -m cProfile): stay in-process.
    main = sys.modules.get("__main__")
    if getattr(main, "_rsa_2048_der", None) is _rsa_2048_der:
        with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            ders = list(pool.map(_rsa_2048_der, range(count), chunksize=8))
    else:
        ders = [_rsa_2048_der(n) for n in range(count)]
    keys = []
    for der in ders:
        # Just generated: the slow RSA validation adds nothing here.
        key = serialization.load_der_private_key(
            der, None, unsafe_skip_rsa_key_validation=True
        )
        assert isinstance(key, rsa.RSAPrivateKey)
        keys.append(key)
    return keys


def write_chain(
    directory: Path, root: Authority, intermediate: Authority
) -> list[Path]:
    paths = [directory / "intermediate.pem", directory / "root.pem"]
    paths[0].write_bytes(_pem(intermediate.cert))
    paths[1].write_bytes(_pem(root.cert))
    return paths


def write_leaves(
    directory: Path,
    intermediate: Authority,
    count: int,
    key_pool: int,
    now: dt.datetime,
) -> list[Path]:
    """`count` leaf PEM files; a fresh key each, or keys from a pool of `key_pool`."""
    pool = [ec.generate_private_key(ec.SECP256R1()) for _ in range(key_pool)]
    paths = []
    for number in range(count):
        key = (
            pool[number % key_pool] if pool else ec.generate_private_key(ec.SECP256R1())
        )
        path = directory / f"leaf-{number:05d}.pem"
        path.write_bytes(_pem(_leaf(intermediate, number, key.public_key(), now)))
        paths.append(path)
        if (number + 1) % 2500 == 0:
            progress(f"  {number + 1:,} of {count:,} certificates written")
    return paths


def write_keyed(
    directory: Path, intermediate: Authority, count: int, now: dt.datetime
) -> list[tuple[Path, Path]]:
    """`count` certificate and key file pairs, half RSA 2048, half ECDSA P-256."""
    rsa_count = count // 2
    progress(f"  generating {rsa_count:,} RSA 2048 keys on {os.cpu_count()} cores")
    keys: list[Key] = [*rsa_keys(rsa_count)]
    keys += [ec.generate_private_key(ec.SECP256R1()) for _ in range(count - rsa_count)]
    pairs = []
    for number, key in enumerate(keys):
        cert_path = directory / f"site-{number:05d}.crt"
        key_path = directory / f"site-{number:05d}.key"
        cert = _leaf(intermediate, 50_000 + number, key.public_key(), now)
        cert_path.write_bytes(_pem(cert))
        key_path.write_bytes(_key_pem(key))
        pairs.append((cert_path, key_path))
    return pairs


# --- Timing --------------------------------------------------------------------


def _read_certificate(data: bytes) -> int:
    """Parse one PEM certificate and read the fields certdesk stores."""
    cert = x509.load_pem_x509_certificate(data)
    fields = (
        cert.subject,
        cert.issuer,
        cert.not_valid_before_utc,
        cert.not_valid_after_utc,
        cert.public_key(),
        list(cert.extensions),
    )
    return len(fields)


def raw_certificates(paths: Sequence[Path]) -> float:
    start = time.perf_counter()
    for path in paths:
        _read_certificate(path.read_bytes())
    return time.perf_counter() - start


def raw_keyed(pairs: Sequence[tuple[Path, Path]], chain: Sequence[Path]) -> float:
    start = time.perf_counter()
    for cert_path, key_path in pairs:
        _read_certificate(cert_path.read_bytes())
        serialization.load_pem_private_key(key_path.read_bytes(), None)
    for path in chain:
        _read_certificate(path.read_bytes())
    return time.perf_counter() - start


def certdesk_import(paths: Sequence[Path], scratch: Path) -> tuple[float, ImportResult]:
    """Seconds for reading `paths` and importing them as one batch."""
    data_dir = DataDir(scratch / "data")
    setup.init(data_dir, "bench")
    store = setup.open_store(data_dir)
    try:
        ctx = Context(store, actor="bench")
        start = time.perf_counter()
        files = [ImportFile(path.name, path.read_bytes()) for path in paths]
        result = import_files(ctx, files, None)
        return time.perf_counter() - start, result
    finally:
        store.close()


def check_outcome(phase: str, result: ImportResult, expected_certificates: int) -> bool:
    outcomes = Counter(f"{i.kind} {i.outcome}" for i in result.items)
    created = outcomes["certificate created"]
    summary = ", ".join(f"{n:,} {what}" for what, n in sorted(outcomes.items()))
    progress(f"  certdesk: {summary}")
    if created != expected_certificates:
        progress(
            f"  WARNING {phase}: expected {expected_certificates:,} certificates "
            f"created, got {created:,}; the figures below are not comparable"
        )
        return False
    return True


@dataclass(frozen=True)
class Row:
    phase: str
    unit: str
    items: int
    files: int
    raw_seconds: float
    certdesk_seconds: float
    target: float | None

    @property
    def raw_rate(self) -> float:
        return self.items / self.raw_seconds

    @property
    def certdesk_rate(self) -> float:
        return self.items / self.certdesk_seconds

    @property
    def ratio(self) -> float:
        return self.certdesk_rate / self.raw_rate


def print_table(rows: Sequence[Row], roots_seconds: float, key_pool: int) -> None:
    header = (
        f"{'phase':<12} {'items':>7} {'files':>7} {'raw s':>8} {'raw/s':>9} "
        f"{'certdesk s':>11} {'certdesk/s':>11} {'ratio':>7}  target"
    )
    print()
    print(header)
    print("-" * len(header))
    for r in rows:
        target = f">= {r.target:.2f}" if r.target is not None else "-"
        print(
            f"{r.phase:<12} {r.items:>7,} {r.files:>7,} {r.raw_seconds:>8.3f} "
            f"{r.raw_rate:>9,.0f} {r.certdesk_seconds:>11.3f} "
            f"{r.certdesk_rate:>11,.0f} {r.ratio:>7.3f}  {target}"
        )
    print()
    for r in rows:
        target = f" (target >= {r.target:.2f})" if r.target is not None else ""
        verdict = ""
        if r.target is not None:
            verdict = ", met" if r.ratio >= r.target else ", NOT met"
        print(
            f"{r.phase}: raw {r.raw_rate:,.0f} {r.unit}/s, certdesk "
            f"{r.certdesk_rate:,.0f} {r.unit}/s, ratio {r.ratio:.3f}{target}{verdict}"
        )
    print()
    keys = (
        "a fresh ECDSA P-256 key each" if key_pool == 0 else f"{key_pool} shared keys"
    )
    print(
        "certs only: items = leaf certificates + intermediate + root, "
        f"one PEM file each; leaves use {keys}."
    )
    print(
        "  raw = read bytes + x509.load_pem_x509_certificate + .subject, .issuer, "
        ".not_valid_before_utc, .not_valid_after_utc, .public_key(), "
        "list(.extensions)"
    )
    print("  (no rfc4514 strings, fingerprints, signature checks or storage).")
    if any(r.unit == "pairs" for r in rows):
        print(
            "with keys: items = certificate + private key pairs (the two chain "
            "files are in both timings but not counted); keys are PKCS#8 PEM."
        )
        print(
            "  raw = the certificate read above + serialization."
            "load_pem_private_key (with cryptography's RSA key validation)."
        )
    print(
        "certdesk = read bytes + one import_files() batch, end to end including "
        "the commit, into a fresh SQLite data directory."
    )
    print(
        f"The Mozilla root store was parsed once before timing: "
        f"{roots_seconds * 1000:.0f} ms (each CLI import pays this once)."
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000, help="certificates only")
    parser.add_argument("--keyed", type=int, default=1_000, help="with private keys")
    parser.add_argument(
        "--key-pool",
        type=int,
        default=0,
        help="reuse this many leaf keys in phase 1 (0: a fresh key per leaf)",
    )
    args = parser.parse_args(argv)
    if args.count < 1 or args.keyed < 0 or args.key_pool < 0:
        parser.error("--count must be >= 1, --keyed and --key-pool >= 0")

    # A fresh SQLite data directory each time, whatever the caller's setup.
    for name in [n for n in os.environ if n.startswith("CERTDESK_")]:
        progress(f"ignoring {name} from the environment")
        del os.environ[name]

    now = dt.datetime.now(dt.UTC)
    start = time.perf_counter()
    mozilla_roots()
    roots_seconds = time.perf_counter() - start

    rows: list[Row] = []
    comparable = True
    with tempfile.TemporaryDirectory(prefix="certdesk-bench-") as tmp:
        work = Path(tmp)
        root = make_ca("Bench Root CA", now)
        intermediate = make_ca("Bench Intermediate CA", now, parent=root)
        chain_dir = work / "chain"
        chain_dir.mkdir()
        chain = write_chain(chain_dir, root, intermediate)

        progress(f"phase 1: writing {args.count:,} certificates")
        leaf_dir = work / "leaves"
        leaf_dir.mkdir()
        files = [*write_leaves(leaf_dir, intermediate, args.count, args.key_pool, now)]
        files += chain
        progress(f"phase 1: raw parse of {len(files):,} files")
        raw_seconds = raw_certificates(files)
        progress(f"phase 1: certdesk import of {len(files):,} files")
        (work / "db1").mkdir()
        seconds, result = certdesk_import(files, work / "db1")
        comparable &= check_outcome("certs only", result, len(files))
        rows.append(
            Row(
                "certs only",
                "certs",
                len(files),
                len(files),
                raw_seconds,
                seconds,
                TARGET_RATIO,
            )
        )

        if args.keyed:
            progress(f"phase 2: writing {args.keyed:,} certificates with keys")
            keyed_dir = work / "keyed"
            keyed_dir.mkdir()
            pairs = write_keyed(keyed_dir, intermediate, args.keyed, now)
            keyed_files = [p for pair in pairs for p in pair] + chain
            progress(f"phase 2: raw parse of {len(keyed_files):,} files")
            raw_seconds = raw_keyed(pairs, chain)
            progress(f"phase 2: certdesk import of {len(keyed_files):,} files")
            (work / "db2").mkdir()
            seconds, result = certdesk_import(keyed_files, work / "db2")
            comparable &= check_outcome("with keys", result, len(pairs) + len(chain))
            rows.append(
                Row(
                    "with keys",
                    "pairs",
                    len(pairs),
                    len(keyed_files),
                    raw_seconds,
                    seconds,
                    None,
                )
            )
        progress("removing the temporary files")

    print_table(rows, roots_seconds, args.key_pool)
    return 0 if comparable else 1


if __name__ == "__main__":
    sys.exit(main())
