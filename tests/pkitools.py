"""Building test certificates: roots, intermediates and leaves, in memory.

The tests make their own CAs rather than shipping fixed files, so validity
periods are always relative to the test's clock.
"""

import datetime as dt
import ipaddress
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)

Key = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, bits)


@dataclass
class Issued:
    cert: x509.Certificate
    key: Key
    name: str
    children: list["Issued"] = field(default_factory=list)

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

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


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "certdesk tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def make_ca(
    cn: str,
    *,
    parent: Issued | None = None,
    key: Key | None = None,
    now: dt.datetime = NOW,
    days: int = 3650,
    hash_algorithm: hashes.SHA256 | hashes.SHA384 | None = None,
) -> Issued:
    """A root (no parent) or an intermediate signed by `parent`."""
    key = key or ec_key()
    subject = _name(cn)
    issuer_cert = parent.cert if parent else None
    signer = parent.key if parent else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject if issuer_cert else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=30))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()),
            critical=False,
        )
    )
    cert = builder.sign(signer, hash_algorithm or hashes.SHA256())
    issued = Issued(cert, key, cn)
    if parent:
        parent.children.append(issued)
    return issued


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def loopback_server(ca_name: str) -> tuple[Issued, Issued]:
    """A throwaway CA and a certificate for localhost and 127.0.0.1 under it,
    valid now: for test servers (Pebble, an SMTP relay) a client must trust."""
    now = dt.datetime.now(dt.UTC)
    ca = make_ca(ca_name, now=now, days=2)
    return ca, make_leaf(ca, "localhost", "127.0.0.1", now=now, days=2)


def make_leaf(
    parent: Issued,
    *names: str,
    key: Key | None = None,
    now: dt.datetime = NOW,
    days: int = 90,
    not_before: dt.datetime | None = None,
    hash_algorithm: hashes.SHA256 | hashes.SHA384 | None = None,
    usage: x509.ObjectIdentifier = x509.oid.ExtendedKeyUsageOID.SERVER_AUTH,
) -> Issued:
    """A TLS server certificate for `names` signed by `parent` (or another
    `usage`, to make one a TLS client must refuse)."""
    key = key or ec_key()
    names = names or ("www.example.test",)
    start = not_before or now - dt.timedelta(days=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(names[0]))
        .issuer_name(parent.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([_general_name(n) for n in names]),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([usage]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(parent.key.public_key()),
            critical=False,
        )
    )
    cert = builder.sign(parent.key, hash_algorithm or hashes.SHA256())
    return Issued(cert, key, names[0])


@dataclass
class ThreeLevels:
    root: Issued
    intermediate: Issued
    leaf: Issued


def three_levels(*names: str, now: dt.datetime = NOW) -> ThreeLevels:
    root = make_ca("Test Root CA", now=now)
    intermediate = make_ca("Test Intermediate CA", parent=root, now=now)
    leaf = make_leaf(intermediate, *(names or ("www.example.test",)), now=now)
    return ThreeLevels(root, intermediate, leaf)
