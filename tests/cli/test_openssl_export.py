"""Everything certdesk writes, the `openssl` command line reads.

Requests, certificates, PKCS#7 bundles, PKCS#12 files and encrypted keys are
made with the CLI and then opened, verified and dumped by `openssl`, the
independent peer; what openssl reports is compared with what certdesk says.
"""

import datetime as dt
import json
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from certdesk.cli.main import main
from tests.clitools import (
    JSON,
    PASSPHRASE,
    cli_json,
    openssl,
    openssl_all,
    openssl_fingerprint,
    show,
)
from tests.conftest import CliResult, RunCli
from tests.pkitools import three_levels

# --- Running openssl and certdesk --------------------------------------------


def export(run_cli: RunCli, cert_id: int, out: Path, *args: str) -> JSON:
    """`cert export ID --out OUT ARGS...`; its JSON report."""
    report: JSON = cli_json(
        run_cli, "cert", "export", str(cert_id), "--out", str(out), *args
    )
    assert report["out"] == str(out)
    assert report["bytes"] == out.stat().st_size
    return report


def events(run_cli: RunCli) -> tuple[str, list[JSON]]:
    """The raw `event list --json` text, and the events it holds."""
    result = run_cli("event", "list", "--limit", "10000", "--json")
    assert result.code == 0, result.err
    return result.out, json.loads(result.out)


def self_signed(
    run_cli: RunCli, name: str = "Portal", key: str = "p256", days: str = "90"
) -> JSON:
    made: JSON = cli_json(
        run_cli,
        "cert", "self-signed", "--name", name, "--key", key,
        "--cn", "portal.example.test", "--san", "www.portal.example.test",
        "--san", "192.0.2.10", "--days", days,
    )  # fmt: skip
    return made


@pytest.fixture
def portal(initialised: RunCli) -> JSON:
    """A self-signed P-256 certificate made by certdesk."""
    return self_signed(initialised)


class Chained:
    """A leaf, intermediate and root, valid now, imported with the leaf's key."""

    def __init__(self, run_cli: RunCli, folder: Path) -> None:
        self.levels = three_levels("chain.example.test", now=dt.datetime.now(dt.UTC))
        self.root_pem = folder / "root.pem"
        self.root_pem.write_bytes(self.levels.root.pem)
        bundle = folder / "bundle.pem"
        bundle.write_bytes(
            self.levels.leaf.pem
            + self.levels.leaf.key_pem
            + self.levels.intermediate.pem
            + self.levels.root.pem
        )
        result = cli_json(run_cli, "cert", "import", str(bundle))
        [leaf] = [i for i in result["items"] if i["role"] == "server"]
        self.leaf_id: int = leaf["id"]

    @property
    def fingerprints(self) -> list[str]:
        return [
            self.levels.leaf.fingerprint,
            self.levels.intermediate.fingerprint,
            self.levels.root.fingerprint,
        ]


@pytest.fixture
def chained(initialised: RunCli, tmp_path: Path) -> Chained:
    made = Chained(initialised, tmp_path)
    view = show(initialised, made.leaf_id)
    assert view["chain_status"] == "complete"
    assert view["has_key"] is True
    return made


def subjects_printed(text: str) -> list[str]:
    """The `subject=` lines of `openssl ... -print_certs`, in order."""
    return re.findall(r"^subject=(.*)$", text, flags=re.MULTILINE)


# --- Requests -----------------------------------------------------------------


@pytest.mark.parametrize("key", ["p256", "p384"])
def test_request_verifies_and_shows_its_names(
    initialised: RunCli, tmp_path: Path, key: str
) -> None:
    made = cli_json(
        initialised,
        "request", "create", "--name", "API", "--key", key,
        "--country", "DE", "--org", "Example GmbH", "--cn", "api.example.test",
        "--san", "api2.example.test", "--san", "192.0.2.7",
    )  # fmt: skip
    result = initialised("request", "show", str(made["id"]), "--pem")
    assert result.code == 0, result.err
    csr = tmp_path / "api.csr"
    csr.write_text(result.out)

    verified = openssl_all("req", "-in", csr, "-verify", "-noout")
    assert "verify OK" in verified or "self-signature ok" in verified.lower()

    text = openssl("req", "-in", csr, "-noout", "-text").decode()
    assert "DNS:api.example.test, DNS:api2.example.test, IP Address:192.0.2.7" in text
    subject = openssl("req", "-in", csr, "-noout", "-subject").decode()
    assert "C = DE" in subject
    assert "O = Example GmbH" in subject
    assert "CN = api.example.test" in subject
    curve = {"p256": "prime256v1", "p384": "secp384r1"}[key]
    assert curve in text


# --- Certificates -------------------------------------------------------------


def test_pem_export_has_the_fingerprint_certdesk_shows(
    initialised: RunCli, portal: JSON, tmp_path: Path
) -> None:
    out = tmp_path / "portal.pem"
    report = export(initialised, portal["id"], out, "--format", "pem")
    assert report["private_key"] is False
    assert b"PRIVATE KEY" not in out.read_bytes()
    view = show(initialised, portal["id"])
    assert openssl_fingerprint(out) == view["fingerprint_sha256"]
    sans = openssl("x509", "-in", out, "-noout", "-ext", "subjectAltName").decode()
    assert "DNS:portal.example.test, DNS:www.portal.example.test" in sans
    assert "IP Address:192.0.2.10" in sans
    # A certificate alone is not secret: readable by others as usual.
    assert stat.S_IMODE(out.stat().st_mode) & 0o044


def test_pem_export_to_standard_output(initialised: RunCli, portal: JSON) -> None:
    result = initialised("cert", "export", str(portal["id"]), "--out", "-")
    assert result.code == 0, result.err
    assert result.out.startswith("-----BEGIN CERTIFICATE-----")
    printed = openssl(
        "x509", "-noout", "-fingerprint", "-sha256", stdin=result.out.encode()
    )
    assert (
        printed.decode().split("=", 1)[1].strip().replace(":", "").lower()
        == (portal["fingerprint_sha256"])
    )


def test_der_export_reads_as_der(
    initialised: RunCli, portal: JSON, tmp_path: Path
) -> None:
    out = tmp_path / "portal.cer"
    export(initialised, portal["id"], out, "--format", "der")
    assert not out.read_bytes().startswith(b"-----")
    assert openssl_fingerprint(out, der=True) == portal["fingerprint_sha256"]


def test_p7b_export_of_a_self_signed_certificate(
    initialised: RunCli, portal: JSON, tmp_path: Path
) -> None:
    out = tmp_path / "portal.p7b"
    export(initialised, portal["id"], out, "--format", "p7b", "--chain")
    printed = openssl("pkcs7", "-inform", "DER", "-in", out, "-print_certs").decode()
    assert subjects_printed(printed) == ["CN = portal.example.test"]


def test_p7b_and_pem_exports_of_a_chain(
    initialised: RunCli, chained: Chained, tmp_path: Path
) -> None:
    p7b = tmp_path / "chain.p7b"
    export(initialised, chained.leaf_id, p7b, "--format", "p7b", "--chain")
    printed = openssl("pkcs7", "-inform", "DER", "-in", p7b, "-print_certs").decode()
    # A SignedData's certificates are a SET OF: DER fixes their order, not us.
    assert sorted(s.rsplit("CN = ", 1)[1] for s in subjects_printed(printed)) == [
        "Test Intermediate CA",
        "Test Root CA",
        "chain.example.test",
    ]

    pem = tmp_path / "chain.pem"
    export(initialised, chained.leaf_id, pem, "--format", "pem", "--chain")
    # openssl builds the same chain from the file alone, given only the root.
    verified = openssl("verify", "-CAfile", chained.root_pem, "-untrusted", pem, pem)
    assert verified.decode().strip().endswith("OK")
    assert openssl_fingerprint(pem) == chained.fingerprints[0]


# --- PKCS#12 ------------------------------------------------------------------


def test_p12_export_opens_in_openssl_without_legacy(
    initialised: RunCli, portal: JSON, passphrase_file: Path, tmp_path: Path
) -> None:
    passphrase = str(passphrase_file)
    out = tmp_path / "portal.p12"
    report = export(
        initialised, portal["id"], out,
        "--format", "p12", "--key", "--chain", "--passphrase-file", passphrase,
    )  # fmt: skip
    assert report["private_key"] is True
    assert stat.S_IMODE(out.stat().st_mode) & 0o077 == 0
    passin = f"file:{passphrase_file}"

    info = openssl_all("pkcs12", "-info", "-nokeys", "-in", out, "-passin", passin)
    assert "PBES2, PBKDF2, AES-256-CBC" in info
    assert "MAC: sha256" in info
    assert "RC2" not in info
    assert "3DES" not in info
    assert "friendlyName: Portal" in info

    certs = openssl("pkcs12", "-in", out, "-nokeys", "-passin", passin)
    assert openssl_fingerprint_of(certs) == portal["fingerprint_sha256"]

    keys = openssl("pkcs12", "-in", out, "-nocerts", "-nodes", "-passin", passin)
    openssl("pkey", "-noout", stdin=keys)
    # The key in the file is the certificate's key.
    assert openssl("pkey", "-pubout", stdin=keys) == openssl(
        "x509", "-noout", "-pubkey", stdin=certs
    )

    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not the passphrase\n")
    refused = subprocess.run(
        ["openssl", "pkcs12", "-in", str(out), "-nokeys", "-passin", f"file:{wrong}"],
        capture_output=True,
        check=False,
    )
    assert refused.returncode != 0


def openssl_fingerprint_of(pem: bytes) -> str:
    out = openssl("x509", "-noout", "-fingerprint", "-sha256", stdin=pem)
    return out.decode().strip().split("=", 1)[1].replace(":", "").lower()


def test_p12_export_of_a_chain_holds_every_certificate(
    initialised: RunCli, chained: Chained, passphrase_file: Path, tmp_path: Path
) -> None:
    passphrase = str(passphrase_file)
    out = tmp_path / "chain.p12"
    export(
        initialised, chained.leaf_id, out,
        "--format", "p12", "--key", "--chain", "--passphrase-file", passphrase,
    )  # fmt: skip
    certs = openssl(
        "pkcs12", "-in", out, "-nokeys", "-passin", f"file:{passphrase_file}"
    ).decode()
    assert len(subjects_printed(certs)) == 3
    blocks = re.findall(
        r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n", certs, re.DOTALL
    )
    assert sorted(openssl_fingerprint_of(b.encode()) for b in blocks) == sorted(
        chained.fingerprints
    )


# --- Encrypted PEM keys -------------------------------------------------------


def test_pem_export_with_key_is_encrypted_pkcs8(
    initialised: RunCli, portal: JSON, passphrase_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "portal-with-key.pem"
    export(
        initialised, portal["id"], out,
        "--format", "pem", "--key", "--passphrase-file", str(passphrase_file),
    )  # fmt: skip
    data = out.read_bytes()
    assert b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in data
    assert b"-----BEGIN PRIVATE KEY-----" not in data
    assert b"-----BEGIN EC PRIVATE KEY-----" not in data
    assert stat.S_IMODE(out.stat().st_mode) & 0o077 == 0

    passin = f"file:{passphrase_file}"
    openssl("pkey", "-in", out, "-passin", passin, "-noout")
    # The key is the certificate's key.
    assert openssl("pkey", "-in", out, "-passin", passin, "-pubout") == openssl(
        "x509", "-in", out, "-noout", "-pubkey"
    )
    # PBES2 with PBKDF2 and AES-256-CBC, as certdesk promises.
    [key_block] = re.findall(
        rb"-----BEGIN ENCRYPTED PRIVATE KEY-----.*?-----END ENCRYPTED PRIVATE KEY-----",
        data,
        re.DOTALL,
    )
    structure = openssl("asn1parse", stdin=key_block).decode()
    for algorithm in ("PBES2", "PBKDF2", "aes-256-cbc"):
        assert algorithm in structure

    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not the passphrase\n")
    refused = subprocess.run(
        ["openssl", "pkey", "-in", str(out), "-passin", f"file:{wrong}", "-noout"],
        capture_output=True,
        check=False,
    )
    assert refused.returncode != 0


@pytest.mark.parametrize("fmt", ["pem", "p12"])
def test_export_with_key_needs_a_passphrase_file(
    initialised: RunCli, portal: JSON, tmp_path: Path, fmt: str
) -> None:
    _, before = events(initialised)
    out = tmp_path / f"refused.{fmt}"
    result = initialised(
        "cert", "export", str(portal["id"]), "--format", fmt, "--key", "--out", str(out)
    )
    assert result.code == 1, result.err
    assert "passphrase" in result.err
    assert "Traceback" not in result.err
    assert not out.exists()
    assert list(tmp_path.glob("refused*")) == []
    _, after = events(initialised)
    assert after == before


# --- Round trip: the failover-replication procedure ---------------------------


def run_in(
    data: Path, capsysbinary: pytest.CaptureFixture[bytes], *args: str
) -> CliResult:
    """`certdesk --data-dir DATA ARGS...` for a second appliance."""
    code = main(["--data-dir", str(data), *args])
    captured = capsysbinary.readouterr()
    return CliResult(code, captured.out.decode(), captured.err.decode())


def json_in(data: Path, capsysbinary: pytest.CaptureFixture[bytes], *args: str) -> Any:
    result = run_in(data, capsysbinary, *args, "--json")
    assert result.code == 0, result.err
    return json.loads(result.out)


@pytest.mark.parametrize("fmt", ["p12", "pem"])
def test_export_with_key_imports_on_a_second_appliance(
    initialised: RunCli,
    portal: JSON,
    passphrase_file: Path,
    tmp_path: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
    fmt: str,
) -> None:
    out = tmp_path / f"portal.{fmt}"
    export(
        initialised, portal["id"], out,
        "--format", fmt, "--key", "--chain", "--passphrase-file", str(passphrase_file),
    )  # fmt: skip
    original = show(initialised, portal["id"])

    standby = tmp_path / "standby"
    assert run_in(standby, capsysbinary, "init").code == 0
    imported = json_in(
        standby, capsysbinary,
        "cert", "import", str(out), "--passphrase-file", str(passphrase_file),
    )  # fmt: skip
    [item] = [i for i in imported["items"] if i["outcome"] == "created"]
    copy = json_in(standby, capsysbinary, "cert", "show", str(item["id"]))
    assert copy["fingerprint_sha256"] == original["fingerprint_sha256"]
    assert copy["has_key"] is True
    assert copy["sans"] == original["sans"]
    if fmt == "p12":
        # The PKCS#12 friendly name carries the certificate's name across.
        assert copy["name"] == "Portal"

    # The standby serves the same key: its own export matches the original's.
    again = tmp_path / "from-standby.pem"
    json_in(
        standby, capsysbinary,
        "cert", "export", str(item["id"]), "--out", str(again),
        "--format", "pem", "--key", "--passphrase-file", str(passphrase_file),
    )  # fmt: skip
    passin = f"file:{passphrase_file}"
    first = tmp_path / "from-primary.pem"
    export(
        initialised, portal["id"], first,
        "--format", "pem", "--key", "--passphrase-file", str(passphrase_file),
    )  # fmt: skip
    assert openssl("pkey", "-in", again, "-passin", passin, "-pubout") == openssl(
        "pkey", "-in", first, "-passin", passin, "-pubout"
    )


def test_chain_with_key_round_trips_through_p12(
    initialised: RunCli,
    chained: Chained,
    passphrase_file: Path,
    tmp_path: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    passphrase = str(passphrase_file)
    out = tmp_path / "chain.p12"
    export(
        initialised, chained.leaf_id, out,
        "--format", "p12", "--key", "--chain", "--passphrase-file", passphrase,
    )  # fmt: skip
    standby = tmp_path / "standby"
    assert run_in(standby, capsysbinary, "init").code == 0
    imported = json_in(
        standby, capsysbinary,
        "cert", "import", str(out), "--passphrase-file", str(passphrase_file),
    )  # fmt: skip
    [leaf] = [i for i in imported["items"] if i["role"] == "server"]
    copy = json_in(standby, capsysbinary, "cert", "show", str(leaf["id"]))
    assert copy["has_key"] is True
    assert copy["chain_status"] == "complete"
    assert [c["fingerprint_sha256"] for c in copy["chain"]] == chained.fingerprints


# --- Audit --------------------------------------------------------------------


def test_every_export_is_an_event_without_secrets(
    initialised: RunCli, chained: Chained, passphrase_file: Path, tmp_path: Path
) -> None:
    with_passphrase = ["--passphrase-file", str(passphrase_file)]
    exports: list[tuple[str, list[str], bool, bool]] = [
        ("pem", [], False, False),
        ("der", [], False, False),
        ("p7b", ["--chain"], True, False),
        ("pem", ["--chain", "--key", *with_passphrase], True, True),
        ("p12", ["--chain", "--key", *with_passphrase], True, True),
        ("p12", ["--key", *with_passphrase], False, True),
    ]
    for number, (fmt, args, chain, key) in enumerate(exports):
        out = tmp_path / f"export-{number}.{fmt}"
        result = initialised(
            "cert", "export", str(chained.leaf_id), "--out", str(out),
            "--format", fmt, *args, "--json",
        )  # fmt: skip
        assert result.code == 0, result.err
        assert PASSPHRASE not in result.out + result.err
        assert "PRIVATE KEY" not in result.out + result.err

        _, found = events(initialised)
        newest = found[0]
        assert newest["action"] == "certificate.exported"
        assert newest["object_type"] == "certificate"
        assert newest["object_id"] == str(chained.leaf_id)
        assert newest["details"]["format"] == fmt
        assert newest["details"]["chain"] is chain
        assert newest["details"]["private_key"] is key
        assert newest["details"]["fingerprint_sha256"] == chained.fingerprints[0]

    raw, found = events(initialised)
    exported = [e for e in found if e["action"] == "certificate.exported"]
    assert len(exported) == len(exports)
    assert "PRIVATE KEY" not in raw
    assert PASSPHRASE not in raw
    # Nor any piece of an exported key file's body.
    for number, (fmt, _, _, key) in enumerate(exports):
        data = (tmp_path / f"export-{number}.{fmt}").read_bytes()
        if key and fmt == "pem":
            body = data.split(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")[1]
            for line in body.splitlines()[1:4]:
                assert line.decode() not in raw
