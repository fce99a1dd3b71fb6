"""Files made by the `openssl` command line import with `certdesk cert import`.

OpenSSL is the independent peer: every certificate, chain, PKCS#12 and key
file here is written by `openssl` (or, for the CRL, by `cryptography`), never
by certdesk, and what certdesk stores is checked against what `openssl` says
about the same file.
"""

import datetime as dt
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certdesk.services.trust import mozilla_roots
from tests.clitools import (
    JSON,
    PASSPHRASE,
    cli_json,
    openssl,
    openssl_fingerprint,
    show,
)
from tests.conftest import CliResult, RunCli

# --- Running openssl and certdesk --------------------------------------------


def import_ok(run_cli: RunCli, *files: Path, passphrase: Path | None = None) -> JSON:
    args = ["cert", "import", *(str(f) for f in files)]
    if passphrase is not None:
        args += ["--passphrase-file", str(passphrase)]
    result: JSON = cli_json(run_cli, *args)
    return result


def created(result: JSON, role: str = "server") -> JSON:
    """The one item of `role` that an import created."""
    items = [
        i for i in result["items"] if i["outcome"] == "created" and i["role"] == role
    ]
    assert len(items) == 1, result
    item: JSON = items[0]
    return item


def snapshot(run_cli: RunCli) -> tuple[Any, Any]:
    """Everything an import could leave behind: certificates and events."""
    return (
        cli_json(run_cli, "cert", "list"),
        cli_json(run_cli, "event", "list", "--limit", "10000"),
    )


def assert_rejected(result: CliResult, path: Path) -> None:
    """Refused as bad input (exit 1), naming the file, without a traceback."""
    assert result.code == 1, (result.out, result.err)
    assert str(path) in result.err
    assert "Traceback" not in result.err
    assert "internal error" not in result.err


# --- Material made by openssl ------------------------------------------------


@dataclass(frozen=True)
class Pair:
    """A self-signed certificate and its key, as `openssl req -x509` wrote them."""

    cert: Path
    key: Path
    name: str
    fingerprint: str


def openssl_self_signed(folder: Path, name: str, *, rsa: bool = False) -> Pair:
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    newkey = (
        ["-newkey", "rsa:2048"]
        if rsa
        else ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    )
    openssl(
        "req",
        "-x509",
        *newkey,
        "-nodes",
        "-keyout",
        key,
        "-out",
        cert,
        "-subj",
        f"/O=openssl interop/CN={name}",
        "-days",
        "30",
        "-addext",
        "basicConstraints=critical,CA:FALSE",
        "-addext",
        f"subjectAltName=DNS:{name}",
    )
    return Pair(cert, key, name, openssl_fingerprint(cert))


@pytest.fixture(scope="module")
def rsa_pair(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    return openssl_self_signed(
        tmp_path_factory.mktemp("rsa"), "a.example.test", rsa=True
    )


@pytest.fixture(scope="module")
def ec_pair(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    return openssl_self_signed(tmp_path_factory.mktemp("ec"), "e.example.test")


@dataclass(frozen=True)
class OpensslChain:
    """Root, intermediate and leaf, each made and signed by openssl."""

    root: Path
    intermediate: Path
    leaf: Path
    leaf_key: Path

    def fingerprints(self) -> list[str]:
        return [
            openssl_fingerprint(p) for p in (self.leaf, self.intermediate, self.root)
        ]


_EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
_CA_EXT = (
    "basicConstraints=critical,CA:TRUE,pathlen:0\n"
    "keyUsage=critical,keyCertSign,cRLSign\n"
    "subjectKeyIdentifier=hash\n"
    "authorityKeyIdentifier=keyid:always\n"
)
_LEAF_EXT = (
    "basicConstraints=critical,CA:FALSE\n"
    "keyUsage=critical,digitalSignature\n"
    "extendedKeyUsage=serverAuth\n"
    "subjectAltName=DNS:chain.example.test\n"
    "subjectKeyIdentifier=hash\n"
    "authorityKeyIdentifier=keyid:always\n"
)


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> OpensslChain:
    d = tmp_path_factory.mktemp("chain")
    (d / "ca.ext").write_text(_CA_EXT)
    (d / "leaf.ext").write_text(_LEAF_EXT)
    openssl(
        "req", "-x509", *_EC, "-keyout", d / "root.key", "-out", d / "root.crt",
        "-subj", "/O=openssl interop/CN=OpenSSL Interop Root", "-days", "3650",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    for name, issuer, subject, ext, days in (
        ("int", "root", "/O=openssl interop/CN=OpenSSL Interop CA", "ca.ext", "1825"),
        ("leaf", "int", "/CN=chain.example.test", "leaf.ext", "90"),
    ):
        openssl(
            "req", "-new", *_EC, "-keyout", d / f"{name}.key",
            "-out", d / f"{name}.csr", "-subj", subject,
        )  # fmt: skip
        openssl(
            "x509", "-req", "-in", d / f"{name}.csr",
            "-CA", d / f"{issuer}.crt", "-CAkey", d / f"{issuer}.key",
            "-CAcreateserial", "-days", days, "-extfile", d / ext,
            "-out", d / f"{name}.crt",
        )  # fmt: skip
    made = OpensslChain(d / "root.crt", d / "int.crt", d / "leaf.crt", d / "leaf.key")
    # openssl itself accepts the chain it made.
    openssl("verify", "-CAfile", made.root, "-untrusted", made.intermediate, made.leaf)
    return made


@pytest.fixture
def wrong_passphrase_file(tmp_path: Path) -> Path:
    path = tmp_path / "wrong-passphrase.txt"
    path.write_text("not the passphrase\n")
    return path


# --- Certificates and keys ----------------------------------------------------


@pytest.mark.parametrize("key_first", [False, True], ids=["cert-key", "key-cert"])
def test_certificate_and_key_as_two_files(
    initialised: RunCli, rsa_pair: Pair, key_first: bool
) -> None:
    files = (
        [rsa_pair.key, rsa_pair.cert] if key_first else [rsa_pair.cert, rsa_pair.key]
    )
    item = created(import_ok(initialised, *files))
    assert item["fingerprint_sha256"] == rsa_pair.fingerprint
    view = show(initialised, item["id"])
    assert view["fingerprint_sha256"] == rsa_pair.fingerprint
    assert view["has_key"] is True
    assert view["sans"] == ["a.example.test"]
    assert view["key"]["algorithm"] == "RSA"
    assert view["key"]["size"] == 2048
    assert view["role"] == "server"
    assert view["chain_status"] == "self-signed"


def test_certificate_and_key_in_one_pem_with_text_around(
    initialised: RunCli, rsa_pair: Pair, tmp_path: Path
) -> None:
    # `x509 -text` writes the dump before the PEM block, `pkey -text` after it.
    cert_text = openssl("x509", "-in", rsa_pair.cert, "-text")
    key_text = openssl("pkey", "-in", rsa_pair.key, "-text")
    assert cert_text.index(b"Certificate:") < cert_text.index(b"-----BEGIN")
    assert key_text.index(b"-----END") < key_text.index(b"Private-Key:")
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(
        b"Server certificate for a.example.test\n\n"
        + cert_text
        + b"\nand here is its private key:\n"
        + key_text
    )
    item = created(import_ok(initialised, bundle))
    assert item["fingerprint_sha256"] == rsa_pair.fingerprint
    assert item["file"] == str(bundle)
    assert show(initialised, item["id"])["has_key"] is True


@pytest.mark.parametrize("encoding", ["der", "base64"])
def test_binary_certificate_named_pem_is_recognised_by_content(
    initialised: RunCli, ec_pair: Pair, tmp_path: Path, encoding: str
) -> None:
    der = openssl("x509", "-in", ec_pair.cert, "-outform", "DER")
    misnamed = tmp_path / "certificate.pem"
    # `openssl base64` is DER as bare base64 lines, without BEGIN/END armour.
    misnamed.write_bytes(der if encoding == "der" else openssl("base64", stdin=der))
    assert b"-----BEGIN" not in misnamed.read_bytes()
    item = created(import_ok(initialised, misnamed))
    assert item["fingerprint_sha256"] == ec_pair.fingerprint
    view = show(initialised, item["id"])
    assert view["has_key"] is False
    assert view["sans"] == ["e.example.test"]


def test_ecparam_genkey_output_with_parameters_block(
    initialised: RunCli, tmp_path: Path
) -> None:
    key = tmp_path / "ecparam.key"
    cert = tmp_path / "ecparam.crt"
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-out", key)
    assert b"-----BEGIN EC PARAMETERS-----" in key.read_bytes()
    openssl(
        "req", "-x509", "-key", key, "-out", cert, "-days", "30",
        "-subj", "/CN=ecparam.example.test",
        "-addext", "basicConstraints=critical,CA:FALSE",
        "-addext", "subjectAltName=DNS:ecparam.example.test",
    )  # fmt: skip
    item = created(import_ok(initialised, key, cert))
    assert item["fingerprint_sha256"] == openssl_fingerprint(cert)
    assert show(initialised, item["id"])["has_key"] is True


# --- PKCS#12 ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variant", "extra", "expected_name"),
    [
        ("default", [], "a.example.test"),
        ("legacy", ["-legacy", "-name", "Web (legacy)"], "Web (legacy)"),
    ],
)
def test_pkcs12_from_openssl(
    initialised: RunCli,
    rsa_pair: Pair,
    passphrase_file: Path,
    tmp_path: Path,
    variant: str,
    extra: list[str],
    expected_name: str,
) -> None:
    p12 = tmp_path / f"{variant}.p12"
    openssl(
        "pkcs12", "-export", *extra, "-in", rsa_pair.cert, "-inkey", rsa_pair.key,
        "-out", p12, "-passout", f"file:{passphrase_file}",
    )  # fmt: skip
    info = _pkcs12_info(p12, passphrase_file, legacy=variant == "legacy")
    # What openssl says it wrote: the old or the OpenSSL 3 default algorithms.
    if variant == "legacy":
        assert "pbeWithSHA1And40BitRC2-CBC" in info, info
        assert "pbeWithSHA1And3-KeyTripleDES-CBC" in info, info
    else:
        assert "PBES2, PBKDF2, AES-256-CBC" in info, info

    item = created(import_ok(initialised, p12, passphrase=passphrase_file))
    assert item["fingerprint_sha256"] == rsa_pair.fingerprint
    view = show(initialised, item["id"])
    assert view["has_key"] is True
    assert view["name"] == expected_name


def _pkcs12_info(p12: Path, passphrase_file: Path, *, legacy: bool) -> str:
    done = subprocess.run(
        [
            "openssl", "pkcs12", "-info", "-noout", *(["-legacy"] if legacy else []),
            "-in", str(p12), "-passin", f"file:{passphrase_file}",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return (done.stdout + done.stderr).decode()


def test_pkcs12_with_chain_from_openssl(
    initialised: RunCli, chain: OpensslChain, passphrase_file: Path, tmp_path: Path
) -> None:
    issuers = tmp_path / "issuers.pem"
    issuers.write_bytes(chain.intermediate.read_bytes() + chain.root.read_bytes())
    p12 = tmp_path / "leaf-with-chain.p12"
    openssl(
        "pkcs12", "-export", "-in", chain.leaf, "-inkey", chain.leaf_key,
        "-certfile", issuers, "-out", p12, "-passout", f"file:{passphrase_file}",
    )  # fmt: skip
    item = created(import_ok(initialised, p12, passphrase=passphrase_file))
    view = show(initialised, item["id"])
    assert view["has_key"] is True
    assert view["chain_status"] == "complete"
    assert [c["fingerprint_sha256"] for c in view["chain"]] == chain.fingerprints()


@pytest.mark.parametrize("given", ["wrong", "missing"])
@pytest.mark.parametrize("variant", ["default", "legacy"])
def test_pkcs12_wrong_passphrase_is_refused_and_leaves_nothing(
    initialised: RunCli,
    rsa_pair: Pair,
    passphrase_file: Path,
    wrong_passphrase_file: Path,
    tmp_path: Path,
    variant: str,
    given: str,
) -> None:
    p12 = tmp_path / f"{variant}.p12"
    legacy = ["-legacy"] if variant == "legacy" else []
    openssl(
        "pkcs12", "-export", *legacy, "-in", rsa_pair.cert, "-inkey", rsa_pair.key,
        "-out", p12, "-passout", f"file:{passphrase_file}",
    )  # fmt: skip
    before = snapshot(initialised)
    args = ["cert", "import", str(p12)]
    if given == "wrong":
        args += ["--passphrase-file", str(wrong_passphrase_file)]
    result = initialised(*args)
    assert_rejected(result, p12)
    assert "passphrase" in result.err
    assert PASSPHRASE not in result.err + result.out
    assert snapshot(initialised) == before


# --- PKCS#7 -------------------------------------------------------------------


@pytest.mark.parametrize("order", ["leaf-first", "root-first"])
@pytest.mark.parametrize("outform", ["DER", "PEM"])
def test_pkcs7_chain_from_crl2pkcs7(
    initialised: RunCli, chain: OpensslChain, tmp_path: Path, outform: str, order: str
) -> None:
    members = [chain.leaf, chain.intermediate, chain.root]
    if order == "root-first":
        members.reverse()
    chain_pem = tmp_path / "chain.pem"
    chain_pem.write_bytes(b"".join(p.read_bytes() for p in members))
    p7 = tmp_path / f"chain.{outform.lower()}.p7b"
    openssl(
        "crl2pkcs7", "-nocrl", "-certfile", chain_pem, "-outform", outform, "-out", p7
    )
    head = p7.read_bytes()[:30]
    assert head.startswith(b"-----BEGIN PKCS7-----") == (outform == "PEM")

    result = import_ok(initialised, p7)
    leaf = created(result)
    assert created(result, "intermediate")["fingerprint_sha256"] == (
        openssl_fingerprint(chain.intermediate)
    )
    assert created(result, "root")["fingerprint_sha256"] == (
        openssl_fingerprint(chain.root)
    )
    view = show(initialised, leaf["id"])
    assert view["chain_status"] == "complete"
    assert view["chain_missing"] is None
    assert [c["role"] for c in view["chain"]] == ["server", "intermediate", "root"]
    assert [c["fingerprint_sha256"] for c in view["chain"]] == chain.fingerprints()
    assert view["has_key"] is False


# --- Private key forms --------------------------------------------------------


@dataclass(frozen=True)
class KeyForm:
    """How to make openssl write a key in one form, and what the form looks like."""

    algorithm: str
    command: tuple[str, ...]
    pem_label: str | None
    encrypted: bool = False


_ENCRYPT = ("pkcs8", "-topk8", "-v2", "aes-256-cbc")

KEY_FORMS = {
    "rsa-pkcs1-pem": KeyForm("rsa", ("pkey", "-traditional"), "RSA PRIVATE KEY"),
    "ec-sec1-pem": KeyForm("ec", ("pkey", "-traditional"), "EC PRIVATE KEY"),
    "rsa-pkcs8-pem": KeyForm("rsa", ("pkey",), "PRIVATE KEY"),
    "ec-pkcs8-pem": KeyForm("ec", ("pkey",), "PRIVATE KEY"),
    "rsa-pkcs8-encrypted-pem": KeyForm(
        "rsa", _ENCRYPT, "ENCRYPTED PRIVATE KEY", encrypted=True
    ),
    "ec-pkcs8-encrypted-pem": KeyForm(
        "ec", _ENCRYPT, "ENCRYPTED PRIVATE KEY", encrypted=True
    ),
    "rsa-pkcs1-der": KeyForm("rsa", ("rsa", "-traditional", "-outform", "DER"), None),
    "ec-sec1-der": KeyForm("ec", ("ec", "-outform", "DER"), None),
    "ec-pkcs8-der": KeyForm("ec", ("pkey", "-outform", "DER"), None),
    "ec-pkcs8-encrypted-der": KeyForm(
        "ec", (*_ENCRYPT, "-outform", "DER"), None, encrypted=True
    ),
}


def write_key(form: KeyForm, pair: Pair, out: Path, passphrase_file: Path) -> Path:
    passout = ["-passout", f"file:{passphrase_file}"] if form.encrypted else []
    openssl(*form.command, "-in", pair.key, *passout, "-out", out)
    data = out.read_bytes()
    if form.pem_label is None:
        assert b"-----BEGIN" not in data
    else:
        assert data.startswith(f"-----BEGIN {form.pem_label}-----".encode())
    return out


@pytest.mark.parametrize("form_id", list(KEY_FORMS))
def test_private_key_forms(
    initialised: RunCli,
    rsa_pair: Pair,
    ec_pair: Pair,
    passphrase_file: Path,
    tmp_path: Path,
    form_id: str,
) -> None:
    form = KEY_FORMS[form_id]
    pair = rsa_pair if form.algorithm == "rsa" else ec_pair
    key = write_key(form, pair, tmp_path / f"{form_id}.key", passphrase_file)
    passphrase = passphrase_file if form.encrypted else None
    item = created(import_ok(initialised, key, pair.cert, passphrase=passphrase))
    assert item["fingerprint_sha256"] == pair.fingerprint
    assert show(initialised, item["id"])["has_key"] is True


@pytest.mark.parametrize("form_id", [k for k in KEY_FORMS if "encrypted" in k])
def test_encrypted_key_with_wrong_passphrase_is_refused(
    initialised: RunCli,
    rsa_pair: Pair,
    ec_pair: Pair,
    passphrase_file: Path,
    wrong_passphrase_file: Path,
    tmp_path: Path,
    form_id: str,
) -> None:
    form = KEY_FORMS[form_id]
    pair = rsa_pair if form.algorithm == "rsa" else ec_pair
    key = write_key(form, pair, tmp_path / f"{form_id}.key", passphrase_file)
    before = snapshot(initialised)
    result = initialised(
        "cert", "import", str(pair.cert), str(key),
        "--passphrase-file", str(wrong_passphrase_file),
    )  # fmt: skip
    assert_rejected(result, key)
    assert "passphrase" in result.err
    assert snapshot(initialised) == before


@pytest.mark.parametrize(
    "form_id", ["ec-pkcs8-pem", "ec-sec1-pem", "ec-pkcs8-der", "ec-sec1-der"]
)
def test_unencrypted_key_in_a_batch_that_needs_a_passphrase(
    initialised: RunCli,
    rsa_pair: Pair,
    ec_pair: Pair,
    passphrase_file: Path,
    tmp_path: Path,
    form_id: str,
) -> None:
    """One passphrase serves the batch; a key that needs none must still load.

    The PKCS#12 file needs the passphrase; the plain key beside it does not
    and must not be refused because a passphrase was given.
    """
    p12 = tmp_path / "a.p12"
    openssl(
        "pkcs12", "-export", "-in", rsa_pair.cert, "-inkey", rsa_pair.key,
        "-out", p12, "-passout", f"file:{passphrase_file}",
    )  # fmt: skip
    key = write_key(KEY_FORMS[form_id], ec_pair, tmp_path / "e.key", passphrase_file)
    result = import_ok(initialised, p12, key, ec_pair.cert, passphrase=passphrase_file)
    made = [i for i in result["items"] if i["outcome"] == "created"]
    assert {i["fingerprint_sha256"] for i in made} == {
        rsa_pair.fingerprint,
        ec_pair.fingerprint,
    }
    for item in made:
        assert show(initialised, item["id"])["has_key"] is True


# --- Rejections ---------------------------------------------------------------


def _crl(der: bool) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    revoked = (
        x509.RevokedCertificateBuilder()
        .serial_number(1234)
        .revocation_date(now - dt.timedelta(hours=1))
        .build()
    )
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(x509.Name.from_rfc4514_string("CN=Interop CRL Issuer"))
        .last_update(now - dt.timedelta(hours=1))
        .next_update(now + dt.timedelta(days=7))
        .add_revoked_certificate(revoked)
        .sign(key, hashes.SHA256())
    )
    encoding = serialization.Encoding.DER if der else serialization.Encoding.PEM
    return crl.public_bytes(encoding)


def _make_rejected(kind: str, folder: Path, pair: Pair) -> Path:
    """A file that is not a certificate or key certdesk can use, made by openssl."""
    out = folder / f"{kind}.pem"
    if kind in ("csr-pem", "csr-der"):
        outform = "DER" if kind == "csr-der" else "PEM"
        openssl(
            "req", "-new", "-key", pair.key, "-subj", "/CN=csr.example.test",
            "-outform", outform, "-out", out,
        )  # fmt: skip
    elif kind in ("crl-pem", "crl-der"):
        out.write_bytes(_crl(der=kind == "crl-der"))
        # openssl reads it as a CRL: the file is the real thing.
        inform = "DER" if kind == "crl-der" else "PEM"
        openssl("crl", "-in", out, "-inform", inform, "-noout")
    elif kind in ("public-key-pem", "public-key-der"):
        outform = "DER" if kind == "public-key-der" else "PEM"
        openssl("pkey", "-in", pair.key, "-pubout", "-outform", outform, "-out", out)
    elif kind == "truncated-pem":
        # Cut mid-body: the END line is gone.
        data = pair.cert.read_bytes()
        out.write_bytes(data[: len(data) // 2])
    elif kind == "truncated-pem-with-end":
        # Lines lost from the middle, armour intact.
        lines = pair.cert.read_bytes().splitlines(keepends=True)
        out.write_bytes(b"".join(lines[:5] + lines[-1:]))
    elif kind == "truncated-der":
        der = openssl("x509", "-in", pair.cert, "-outform", "DER")
        out.write_bytes(der[: len(der) - 40])
    else:
        raise AssertionError(kind)
    return out


REJECTED = [
    "csr-pem",
    "csr-der",
    "crl-pem",
    "crl-der",
    "public-key-pem",
    "public-key-der",
    "truncated-pem",
    "truncated-pem-with-end",
    "truncated-der",
]


@pytest.mark.parametrize("kind", REJECTED)
def test_rejected_files(
    initialised: RunCli, ec_pair: Pair, tmp_path: Path, kind: str
) -> None:
    bad = _make_rejected(kind, tmp_path, ec_pair)
    before = snapshot(initialised)
    result = initialised("cert", "import", str(bad))
    assert_rejected(result, bad)
    expected = {
        "csr": "signing request",
        "crl": "revocation list",
        "public": "public key",
        "truncated": "truncated",
    }[kind.split("-")[0]]
    assert expected in result.err
    assert snapshot(initialised) == before


@pytest.mark.parametrize("kind", ["csr-pem", "truncated-pem", "public-key-der"])
def test_batch_with_one_bad_file_imports_nothing(
    initialised: RunCli, ec_pair: Pair, tmp_path: Path, kind: str
) -> None:
    bad = _make_rejected(kind, tmp_path, ec_pair)
    before = snapshot(initialised)
    result = initialised(
        "cert", "import", str(ec_pair.cert), str(ec_pair.key), str(bad)
    )
    assert_rejected(result, bad)
    assert snapshot(initialised) == before
    # The good files on their own were fine all along.
    created(import_ok(initialised, ec_pair.cert, ec_pair.key))


def test_batch_refused_while_storing_rolls_back(
    initialised: RunCli, ec_pair: Pair, rsa_pair: Pair
) -> None:
    """Every file decodes, but a key fits no certificate: the whole batch goes."""
    before = snapshot(initialised)
    result = initialised("cert", "import", str(ec_pair.cert), str(rsa_pair.key))
    assert_rejected(result, rsa_pair.key)
    assert "matches no certificate" in result.err
    assert snapshot(initialised) == before


# --- The trust store ----------------------------------------------------------


def test_import_is_silent_about_the_trust_store(
    initialised: RunCli,
    chain: OpensslChain,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Loading the Mozilla roots must not warn, fail, or print to the user.

    certifi's bundle holds roots with serial number 0, which recent cryptography
    releases warn about while parsing; run as a fresh process would, the import must
    still succeed and say nothing about it.
    """
    monkeypatch.setenv("HOME", str(tmp_path))  # where an internal error is logged
    mozilla_roots.cache_clear()  # parse the bundle again, as a new process does
    result = initialised("cert", "import", str(chain.leaf), "--json")
    assert result.code == 0, result.err
    assert "Warning" not in result.err
    assert "serial number" not in result.err
