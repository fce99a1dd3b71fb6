import base64
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import pkcs7

from certdesk.errors import RejectedFile, WrongPassphrase
from certdesk.pki.decode import decode_file
from tests.pkitools import ec_key, three_levels

LEVELS = three_levels()


def test_base64_without_headers_is_read_as_der() -> None:
    text = base64.encodebytes(LEVELS.leaf.der)
    decoded = decode_file("leaf.b64", text, None)
    assert [c.fingerprint for c in [LEVELS.leaf]] == [
        f.fingerprint_sha256 for f in decoded.facts
    ]


def test_x509_certificate_label_and_ec_parameters_block() -> None:
    pem = LEVELS.leaf.pem.replace(b"CERTIFICATE", b"X509 CERTIFICATE")
    params = (
        b"-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n"
        b"-----END EC PARAMETERS-----\n"
    )
    key = LEVELS.leaf.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    decoded = decode_file("mixed.pem", b"intro text\n" + pem + params + key, None)
    assert len(decoded.certificates) == 1
    assert len(decoded.keys) == 1


def test_ber_pkcs7_is_accepted(tmp_path: Path) -> None:
    """`openssl cms -stream` writes indefinite-length BER, as some Windows tools do."""
    (tmp_path / "c.pem").write_bytes(LEVELS.leaf.pem)
    (tmp_path / "k.pem").write_bytes(LEVELS.leaf.key_pem)
    (tmp_path / "msg").write_bytes(b"hello")
    subprocess.run(
        [
            "openssl",
            "cms",
            "-sign",
            "-in",
            str(tmp_path / "msg"),
            "-signer",
            str(tmp_path / "c.pem"),
            "-inkey",
            str(tmp_path / "k.pem"),
            "-stream",
            "-nodetach",
            "-outform",
            "DER",
            "-out",
            str(tmp_path / "ber.p7"),
        ],
        check=True,
        capture_output=True,
    )
    data = (tmp_path / "ber.p7").read_bytes()
    assert data[1] == 0x80  # indefinite length: this really is BER
    decoded = decode_file("ber.p7", data, None)
    assert decoded.facts[0].fingerprint_sha256 == LEVELS.leaf.fingerprint


def test_pkcs7_pem() -> None:
    data = pkcs7.serialize_certificates(
        [LEVELS.leaf.cert, LEVELS.root.cert], serialization.Encoding.PEM
    )
    assert len(decode_file("c.p7c", data, None).certificates) == 2


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (LEVELS.leaf.pem[:-40], "truncated"),
        (LEVELS.leaf.der[:-10], "truncated"),
        (b"\x30\x03\x02\x01\x01", "truncated or damaged"),
    ],
)
def test_unusable_content_is_explained(data: bytes, reason: str) -> None:
    with pytest.raises(RejectedFile, match=reason) as info:
        decode_file("bad.crt", data, None)
    assert info.value.filename == "bad.crt"


def _csr_pem() -> bytes:
    key = ec_key()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(LEVELS.leaf.cert.subject)
        .sign(
            key,
            hashes.SHA256(),
        )
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def test_csr_and_public_key_are_named_in_pem_and_der() -> None:
    csr_pem = _csr_pem()
    csr_der = x509.load_pem_x509_csr(csr_pem).public_bytes(serialization.Encoding.DER)
    for data in (csr_pem, csr_der):
        with pytest.raises(RejectedFile, match="certificate signing request"):
            decode_file("req.cer", data, None)
    public = LEVELS.leaf.key.public_key()
    for encoding in (serialization.Encoding.PEM, serialization.Encoding.DER):
        data = public.public_bytes(
            encoding, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        with pytest.raises(RejectedFile, match="public key without its private key"):
            decode_file("pub.key", data, None)


def test_unsupported_key_algorithm_is_named() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(RejectedFile, match="Ed25519 private keys are not supported"):
        decode_file("ed.key", pem, None)


def test_encrypted_key_asks_for_its_passphrase() -> None:
    pem = LEVELS.leaf.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"open sesame"),
    )
    with pytest.raises(WrongPassphrase, match="give its passphrase"):
        decode_file("k.pem", pem, None)
    with pytest.raises(WrongPassphrase, match="does not open"):
        decode_file("k.pem", pem, b"not it")
    assert len(decode_file("k.pem", pem, b"open sesame").keys) == 1


def test_a_damaged_key_error_does_not_quote_the_key() -> None:
    pem = LEVELS.leaf.key_pem
    lines = pem.splitlines()
    body = lines[1:-1]
    damaged = b"\n".join(
        [lines[0], body[0][:10] + b"!!!!" + body[0][14:], *body[1:], lines[-1]]
    )
    with pytest.raises(RejectedFile) as info:
        decode_file("k.pem", damaged + b"\n", None)
    message = str(info.value)
    for line in body:
        assert line.decode()[:16] not in message
    assert info.value.__cause__ is None


def test_repr_never_shows_key_material() -> None:
    decoded = decode_file("k.pem", LEVELS.leaf.key_pem + LEVELS.leaf.pem, None)
    assert "PRIVATE" not in repr(decoded)
    assert "1 keys" in repr(decoded)
