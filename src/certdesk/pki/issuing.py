"""Building what the appliance signs itself: requests and self-signed certificates."""

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from certdesk.errors import InvalidInput
from certdesk.pki.keys import HeldKey
from certdesk.pki.names import SubjectSpec

MAX_SELF_SIGNED_DAYS = 3650

# Backdating absorbs clock skew between the appliance and its clients.
_BACKDATE = dt.timedelta(minutes=5)


def signature_hash(key: HeldKey) -> hashes.SHA256 | hashes.SHA384:
    """SHA-384 for P-384 keys (matching strength), SHA-256 otherwise."""
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def build_request(key: HeldKey, subject: SubjectSpec) -> x509.CertificateSigningRequest:
    """A PKCS#10 request asking for a TLS server certificate for `subject`."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject.x509_name())
    san = subject.san_extension()
    if san is not None:
        builder = builder.add_extension(san, critical=False)
    builder = builder.add_extension(
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
    )
    return builder.sign(key, signature_hash(key))


def build_self_signed(
    key: HeldKey, subject: SubjectSpec, *, now: dt.datetime, days: int
) -> x509.Certificate:
    """A self-signed server certificate valid from `now` for `days` days.

    It is marked CA:FALSE so that verifiers accept it as a server certificate
    once a client chooses to trust it.
    """
    if not 1 <= days <= MAX_SELF_SIGNED_DAYS:
        raise InvalidInput("days", f"must be 1 to {MAX_SELF_SIGNED_DAYS}, not {days}")

    name = subject.x509_name()
    public = key.public_key()
    usage_encipher = isinstance(key, rsa.RSAPrivateKey)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=usage_encipher,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(public), critical=False
        )
    )
    san = subject.san_extension()
    if san is not None:
        builder = builder.add_extension(san, critical=False)
    return builder.sign(key, signature_hash(key))
