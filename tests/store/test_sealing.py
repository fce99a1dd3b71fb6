"""Private keys are sealed at rest: the database file never holds one readably.

The database bytes are searched for every form a key could leak in (PKCS#8
and traditional DER, PEM lines, the raw private numbers), the master key's
file and environment variable are checked, and sealed blobs are shown to open
only under their own master key and their own row.
"""

import base64
import contextlib
import secrets
import sqlite3
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import select

from certdesk.errors import DataDirError
from certdesk.pki.keys import HeldKey, spki_sha256
from certdesk.services import setup
from certdesk.store import keys as stored_keys
from certdesk.store import schema
from certdesk.store.datadir import DataDir
from certdesk.store.sealing import MASTER_KEY_ENV, MasterKey
from tests.clitools import PASSPHRASE, cli_json
from tests.conftest import RunCli


@pytest.fixture
def populated(initialised: RunCli) -> tuple[int, int]:
    """A self-signed RSA certificate and a P-256 request: ids (cert, request)."""
    cert = cli_json(
        initialised,
        "cert", "self-signed", "--name", "Sealed", "--key", "rsa2048",
        "--cn", "sealed.example.test", "--days", "30",
    )  # fmt: skip
    request = cli_json(
        initialised,
        "request", "create", "--name", "Sealed request", "--key", "p256",
        "--cn", "request.example.test",
    )  # fmt: skip
    return int(cert["id"]), int(request["id"])


def database_bytes(data_dir: DataDir) -> bytes:
    """The database file and its -wal (and -shm) companions, as stored on disk."""
    files = sorted(data_dir.path.glob(data_dir.database_path.name + "*"))
    assert data_dir.database_path in files
    return b"".join(f.read_bytes() for f in files)


def stored_private_keys(data_dir: DataDir) -> list[HeldKey]:
    """Every key the store holds, unsealed through the store itself."""
    store = setup.open_store(data_dir)
    try:
        with store.transaction() as session:
            rows = session.scalars(select(schema.Key)).all()
            return [
                stored_keys.load_key(session, store.master_key, row.id) for row in rows
            ]
    finally:
        store.close()


def _big_endian(number: int) -> bytes:
    return number.to_bytes((number.bit_length() + 7) // 8, "big")


def private_numbers(key: HeldKey) -> dict[str, bytes]:
    """The secret numbers of a key, big-endian, as they sit inside its DER."""
    if isinstance(key, rsa.RSAPrivateKey):
        private = key.private_numbers()
        return {
            name: _big_endian(value)
            for name, value in (
                ("d", private.d),
                ("p", private.p),
                ("q", private.q),
                ("dmp1", private.dmp1),
                ("dmq1", private.dmq1),
                ("iqmp", private.iqmp),
            )
        }
    width = (key.curve.key_size + 7) // 8
    return {"scalar": key.private_numbers().private_value.to_bytes(width, "big")}


def secret_pem_lines(pem: bytes, der: bytes, numbers: list[bytes]) -> list[bytes]:
    """The PEM body lines that encode some byte of a secret number.

    The other lines (the algorithm, the modulus, the public point) are public
    and may well match a certificate or request stored in the database.
    """
    ranges = []
    for number in numbers:
        start = der.find(number)
        assert start >= 0
        ranges.append((start, start + len(number)))
    found = []
    offset = 0
    for line in pem.splitlines()[1:-1]:
        end = offset + len(base64.b64decode(line))
        if any(offset < stop and start < end for start, stop in ranges):
            found.append(line)
        offset = end
    assert found
    return found


def leak_forms(key: HeldKey) -> dict[str, bytes]:
    """Each way a private key could appear in a file, readably."""
    numbers = private_numbers(key)
    forms: dict[str, bytes] = {}
    for label, fmt in (
        ("pkcs8", serialization.PrivateFormat.PKCS8),
        ("traditional", serialization.PrivateFormat.TraditionalOpenSSL),
    ):
        der = key.private_bytes(
            serialization.Encoding.DER, fmt, serialization.NoEncryption()
        )
        pem = key.private_bytes(
            serialization.Encoding.PEM, fmt, serialization.NoEncryption()
        )
        forms[f"{label} DER"] = der
        forms[f"{label} PEM"] = pem
        # Any single secret line of the PEM body, as if a fragment were stored.
        for number, line in enumerate(
            secret_pem_lines(pem, der, list(numbers.values()))
        ):
            forms[f"{label} PEM secret line {number}"] = line
    for name, raw in numbers.items():
        forms[f"{name} bytes"] = raw
        forms[f"{name} hex"] = raw.hex().encode()
        forms[f"{name} HEX"] = raw.hex().upper().encode()
        forms[f"{name} base64"] = base64.b64encode(raw)
    return forms


def exported_key(run_cli: RunCli, cert_id: int, passphrase: Path, out: Path) -> HeldKey:
    """The certificate's private key, as `cert export --key` hands it out."""
    result = run_cli(
        "cert", "export", str(cert_id), "--format", "pem", "--key",
        "--passphrase-file", str(passphrase), "--out", str(out),
    )  # fmt: skip
    assert result.code == 0, result.err
    key = serialization.load_pem_private_key(
        out.read_bytes(), password=PASSPHRASE.encode()
    )
    assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
    return key


# --- No key in the database file ----------------------------------------------


def test_no_private_key_appears_in_the_database_file(
    initialised: RunCli,
    populated: tuple[int, int],
    data_dir: DataDir,
    passphrase_file: Path,
    tmp_path: Path,
) -> None:
    cert_id, _ = populated
    exported = exported_key(initialised, cert_id, passphrase_file, tmp_path / "k.pem")
    raw = database_bytes(data_dir)

    held = stored_private_keys(data_dir)
    # The factory default's key, the self-signed certificate's, the request's.
    assert len(held) == 3
    assert spki_sha256(exported.public_key()) in {
        spki_sha256(k.public_key()) for k in held
    }
    assert any(isinstance(k, rsa.RSAPrivateKey) for k in held)

    assert b"PRIVATE KEY" not in raw
    for key in [exported, *held]:
        for form, blob in leak_forms(key).items():
            assert blob not in raw, f"{type(key).__name__}: {form} is in the database"


def test_the_wal_file_holds_new_rows_but_no_key(
    initialised: RunCli, data_dir: DataDir
) -> None:
    """Rows written while another connection is open wait in the -wal file."""
    store = setup.open_store(data_dir)
    try:
        # A pooled connection stays open, so the WAL is not checkpointed away.
        with store.transaction() as session:
            session.scalars(select(schema.Key)).all()
        made = cli_json(
            initialised,
            "cert", "self-signed", "--name", "In the WAL", "--key", "p256",
            "--cn", "wal.example.test",
        )  # fmt: skip
        cli_json(
            initialised,
            "request", "create", "--name", "WAL request", "--key", "p384",
            "--cn", "wal-request.example.test",
        )  # fmt: skip
        wal = data_dir.database_path.with_name(data_dir.database_path.name + "-wal")
        assert made["fingerprint_sha256"].encode() in wal.read_bytes()
        raw = database_bytes(data_dir)
        with store.transaction() as session:
            rows = session.scalars(select(schema.Key)).all()
            held = [stored_keys.load_key(session, store.master_key, r.id) for r in rows]
    finally:
        store.close()
    assert len(held) == 3
    assert b"PRIVATE KEY" not in raw
    for key in held:
        for form, blob in leak_forms(key).items():
            assert blob not in raw, form


def test_sealed_rows_are_sealed_blobs(
    initialised: RunCli, populated: tuple[int, int], data_dir: DataDir
) -> None:
    """Each key row holds a version byte, a nonce and an AES-GCM body and tag."""
    held = {spki_sha256(k.public_key()): k for k in stored_private_keys(data_dir)}
    with contextlib.closing(sqlite3.connect(data_dir.database_path)) as db:
        rows = db.execute("SELECT id, spki_sha256, sealed FROM keys").fetchall()
    assert len(rows) == len(held) == 3
    for _, spki, sealed in rows:
        der = held[spki].private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        assert sealed[:1] == b"\x01"
        assert len(sealed) == 1 + 12 + len(der) + 16
        assert der not in sealed


# --- The master key -----------------------------------------------------------


def test_master_key_file_is_private_and_apart_from_the_database(
    initialised: RunCli, populated: tuple[int, int], data_dir: DataDir
) -> None:
    path = data_dir.master_key_path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text().strip()
    secret = base64.b64decode(text, validate=True)
    assert len(secret) == 32
    raw = database_bytes(data_dir)
    assert secret not in raw
    assert text.encode() not in raw


def _other_master_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


@pytest.mark.parametrize(
    "command",
    [["cert", "list"], ["request", "list"], ["event", "list"], ["init"]],
    ids=["cert-list", "request-list", "event-list", "init"],
)
def test_a_different_master_key_does_not_open_the_store(
    initialised: RunCli,
    populated: tuple[int, int],
    monkeypatch: pytest.MonkeyPatch,
    command: list[str],
) -> None:
    monkeypatch.setenv(MASTER_KEY_ENV, _other_master_key())
    result = initialised(*command)
    assert result.code == 1, (result.out, result.err)
    assert "master key" in result.err
    assert "Traceback" not in result.err


def test_the_right_master_key_from_the_environment_opens_the_store(
    initialised: RunCli,
    populated: tuple[int, int],
    data_dir: DataDir,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same key given as the variable works: the variable is what is used."""
    monkeypatch.setenv(MASTER_KEY_ENV, data_dir.master_key_path.read_text().strip())
    listed = cli_json(initialised, "cert", "list")
    assert {c["name"] for c in listed} >= {"Sealed"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not base64 at all!", "base64"),
        (base64.b64encode(b"sixteen byte key").decode(), "32 bytes"),
    ],
    ids=["not-base64", "too-short"],
)
def test_a_malformed_master_key_is_refused(
    initialised: RunCli, monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv(MASTER_KEY_ENV, value)
    result = initialised("cert", "list")
    assert result.code == 1
    assert "master key" in result.err
    assert message in result.err
    assert value not in result.err


# --- Sealed blobs belong to one key and one row ------------------------------


def test_sealed_blob_opens_only_under_its_own_id_and_key() -> None:
    master = MasterKey(secrets.token_bytes(32))
    plaintext = b"-----BEGIN PRIVATE KEY----- pretend key material"
    sealed = master.seal(plaintext, "key-a")
    assert plaintext not in sealed
    assert master.seal(plaintext, "key-a") != sealed  # a fresh nonce each time
    assert master.unseal(sealed, "key-a") == plaintext

    with pytest.raises(DataDirError, match="key-b does not open"):
        master.unseal(sealed, "key-b")
    with pytest.raises(DataDirError, match="does not open with this master key"):
        MasterKey(secrets.token_bytes(32)).unseal(sealed, "key-a")
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(DataDirError, match="altered"):
        master.unseal(tampered, "key-a")
    with pytest.raises(DataDirError, match="unknown format"):
        master.unseal(b"\x02" + sealed[1:], "key-a")
    assert repr(master) == "MasterKey(<sealed>)"


def test_a_sealed_key_copied_onto_another_row_is_not_served(
    initialised: RunCli,
    populated: tuple[int, int],
    data_dir: DataDir,
    passphrase_file: Path,
    tmp_path: Path,
) -> None:
    """Swapping sealed blobs between rows makes the key unusable, not wrong."""
    cert_id, request_id = populated
    with contextlib.closing(sqlite3.connect(data_dir.database_path)) as db, db:
        [(cert_key,)] = db.execute(
            "SELECT key_id FROM certificates WHERE id = ?", (cert_id,)
        ).fetchall()
        [(request_key,)] = db.execute(
            "SELECT key_id FROM requests WHERE id = ?", (request_id,)
        ).fetchall()
        db.execute(
            "UPDATE keys SET sealed = (SELECT sealed FROM keys WHERE id = ?) "
            "WHERE id = ?",
            (request_key, cert_key),
        )
    out = tmp_path / "must-not-exist.pem"
    result = initialised(
        "cert", "export", str(cert_id), "--format", "pem", "--key",
        "--passphrase-file", str(passphrase_file), "--out", str(out),
    )  # fmt: skip
    assert result.code == 1, (result.out, result.err)
    assert "does not open" in result.err
    assert "Traceback" not in result.err
    assert not out.exists()
