"""Private keys: the types the appliance makes, and how a key is described.

A key is identified across certificates, requests and imports by the SHA-256
of its SubjectPublicKeyInfo, so a renewed certificate, a signed request and a
key imported on its own all find each other without comparing key material.
"""

import enum
import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificatePublicKeyTypes,
    PrivateKeyTypes,
)

# The key types a certificate the appliance serves can hold.
HeldKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class KeyType(enum.StrEnum):
    """The key choices of the Create form (guide step 4)."""

    RSA2048 = "rsa2048"
    RSA3072 = "rsa3072"
    RSA4096 = "rsa4096"
    P256 = "p256"
    P384 = "p384"


_CURVES: dict[KeyType, ec.EllipticCurve] = {
    KeyType.P256: ec.SECP256R1(),
    KeyType.P384: ec.SECP384R1(),
}

_RSA_BITS = {KeyType.RSA2048: 2048, KeyType.RSA3072: 3072, KeyType.RSA4096: 4096}


def generate_key(key_type: KeyType) -> HeldKey:
    """A fresh private key of `key_type`."""
    if key_type in _RSA_BITS:
        return rsa.generate_private_key(65537, _RSA_BITS[key_type])
    return ec.generate_private_key(_CURVES[key_type])


@dataclass(frozen=True)
class KeyDescription:
    """What a person is told about a key: `algorithm` and `size` in bits."""

    algorithm: str
    size: int
    curve: str | None = None

    def __str__(self) -> str:
        if self.curve:
            return f"ECDSA {self.curve}"
        return f"{self.algorithm} {self.size}"

    @property
    def weak(self) -> bool:
        """Below what CAs and browsers accept today (RSA 2048, 256-bit curves)."""
        if self.algorithm == "RSA":
            return self.size < 2048
        if self.algorithm == "DSA":
            return True
        if self.algorithm == "ECDSA":
            return self.size < 256
        return False


def describe_public_key(key: CertificatePublicKeyTypes) -> KeyDescription:
    """Algorithm and size of a public key, for display and warnings."""
    if isinstance(key, rsa.RSAPublicKey):
        return KeyDescription("RSA", key.key_size)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return KeyDescription("ECDSA", key.curve.key_size, _curve_label(key.curve))
    if isinstance(key, ed25519.Ed25519PublicKey):
        return KeyDescription("Ed25519", 256)
    if isinstance(key, ed448.Ed448PublicKey):
        return KeyDescription("Ed448", 456)
    if isinstance(key, dsa.DSAPublicKey):
        return KeyDescription("DSA", key.key_size)
    return KeyDescription(type(key).__name__, 0)


def _curve_label(curve: ec.EllipticCurve) -> str:
    return {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}.get(
        curve.name, curve.name
    )


def spki_sha256(key: CertificatePublicKeyTypes) -> str:
    """Hex SHA-256 of the DER SubjectPublicKeyInfo: the key's identity."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def as_held_key(key: PrivateKeyTypes) -> HeldKey | None:
    """`key` if it is of a type the appliance can serve with, else None."""
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        return key
    return None


def private_key_der(key: CertificateIssuerPrivateKeyTypes) -> bytes:
    """Unencrypted PKCS#8 DER, the form in which keys are sealed at rest."""
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_sealed_key(der: bytes) -> HeldKey:
    """Load a key the store sealed itself.

    The key was checked when it entered the store, so the expensive RSA
    consistency check is skipped here; it costs tens of milliseconds per key.
    """
    key = serialization.load_der_private_key(
        der, password=None, unsafe_skip_rsa_key_validation=True
    )
    held = as_held_key(key)
    if held is None:
        raise ValueError("sealed key is not RSA or ECDSA")
    return held
