"""Writing certificates, chains and keys out in the formats other systems read.

A private key never leaves without a passphrase: PKCS#12 is written with
AES-256-CBC under PBKDF2 and an HMAC-SHA256 integrity key, and PEM keys as
encrypted PKCS#8 (PBES2, AES-256-CBC).
"""

import enum
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from certdesk.errors import InvalidInput
from certdesk.pki.keys import HeldKey

MIN_PASSPHRASE = 8

# Iterations for PKCS#12's PBKDF2; OpenSSL 3 writes 2048 by default, and
# NIST SP 800-132 asks for as many as the platform tolerates.
PKCS12_KDF_ROUNDS = 50_000


class ExportFormat(enum.StrEnum):
    PEM = "pem"
    DER = "der"
    P7B = "p7b"
    P12 = "p12"


def encode(
    fmt: ExportFormat,
    leaf: x509.Certificate,
    chain: Sequence[x509.Certificate],
    key: HeldKey | None,
    passphrase: bytes | None,
    friendly_name: str,
    *,
    chain_requested: bool = False,
) -> bytes:
    """The bytes of an export; `chain` is empty when the chain is not wanted.

    `chain_requested` says the user asked for the chain even if it is empty
    (a self-signed certificate), so a format that cannot hold one refuses.
    """
    if key is not None:
        check_passphrase(passphrase)
    certs = [leaf, *chain]

    if fmt is ExportFormat.DER:
        if chain_requested or key is not None:
            raise InvalidInput(
                "format",
                "DER holds a single certificate; use pem or p7b for a chain and "
                "p12 or pem for a private key",
            )
        return leaf.public_bytes(serialization.Encoding.DER)

    if fmt is ExportFormat.P7B:
        if key is not None:
            raise InvalidInput(
                "format", "PKCS#7 cannot hold a private key; use p12 or pem"
            )
        return pkcs7.serialize_certificates(certs, serialization.Encoding.DER)

    if fmt is ExportFormat.PEM:
        parts = [c.public_bytes(serialization.Encoding.PEM) for c in certs]
        if key is not None and passphrase is not None:
            parts.append(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.BestAvailableEncryption(passphrase),
                )
            )
        return b"".join(parts)

    return _pkcs12(leaf, chain, key, passphrase, friendly_name)


def _pkcs12(
    leaf: x509.Certificate,
    chain: Sequence[x509.Certificate],
    key: HeldKey | None,
    passphrase: bytes | None,
    friendly_name: str,
) -> bytes:
    encryption: serialization.KeySerializationEncryption
    if passphrase:
        encryption = (
            serialization.PrivateFormat.PKCS12.encryption_builder()
            .kdf_rounds(PKCS12_KDF_ROUNDS)
            .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
            .hmac_hash(hashes.SHA256())
            .build(passphrase)
        )
    else:
        encryption = serialization.NoEncryption()
    return pkcs12.serialize_key_and_certificates(
        friendly_name.encode(), key, leaf, list(chain) or None, encryption
    )


def check_passphrase(passphrase: bytes | None) -> bytes:
    """A passphrase good enough to protect an exported private key."""
    if not passphrase:
        raise InvalidInput(
            "passphrase",
            "an export with the private key needs a passphrase "
            "(--passphrase-file FILE, or - for standard input)",
        )
    if len(passphrase) < MIN_PASSPHRASE:
        raise InvalidInput(
            "passphrase", f"must be at least {MIN_PASSPHRASE} characters long"
        )
    return passphrase
