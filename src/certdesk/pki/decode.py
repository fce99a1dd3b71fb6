"""Recognising what a file holds, by its content and never by its name.

One file may hold certificates, private keys, or both: DER X.509, PEM with any
number of blocks and text around them, PKCS#7 (DER, BER or PEM), PKCS#12, and
private keys in PKCS#1, PKCS#8 or SEC1 form, encrypted or not. Whatever cannot
be used raises `RejectedFile` saying what the file is and what to do instead.
"""

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from certdesk.errors import RejectedFile, WrongPassphrase
from certdesk.pki.certificates import (
    PARSE_ERRORS,
    CertificateFacts,
    check_readable,
    printable,
    quietly,
)
from certdesk.pki.keys import HeldKey, as_held_key

_PEM_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 #]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL
)
_PEM_BEGIN = re.compile(rb"-----BEGIN ([A-Z0-9 #]+)-----")
_BASE64_ONLY = re.compile(rb"^[A-Za-z0-9+/=\s]+$")

_CERT_LABELS = {b"CERTIFICATE", b"X509 CERTIFICATE"}
_KEY_LABELS = {
    b"PRIVATE KEY",
    b"ENCRYPTED PRIVATE KEY",
    b"RSA PRIVATE KEY",
    b"EC PRIVATE KEY",
}
_IGNORED_LABELS = {b"EC PARAMETERS", b"DH PARAMETERS"}
_REQUEST_LABELS = {b"CERTIFICATE REQUEST", b"NEW CERTIFICATE REQUEST"}
_PUBLIC_KEY_LABELS = {b"PUBLIC KEY", b"RSA PUBLIC KEY"}

_CSR_ADVICE = (
    "it is a certificate signing request, not a certificate: send it to your CA "
    "and import the certificate the CA returns"
)
_CRL_ADVICE = "it is a certificate revocation list, not a certificate"
_PUBLIC_KEY_ADVICE = (
    "it holds a public key without its private key: import the private key file "
    "(often .key) or a PKCS#12 file (.p12, .pfx) instead"
)


@dataclass
class DecodedFile:
    """The certificates and keys found in one file, in the order found."""

    filename: str
    format: str
    certificates: list[x509.Certificate] = field(default_factory=list)
    keys: list[HeldKey] = field(default_factory=list)
    facts: list[CertificateFacts] = field(default_factory=list)
    # Friendly names carried by PKCS#12 bags, by certificate position.
    friendly_names: dict[int, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        # Never show key material, not even by accident in a debugger or log.
        return (
            f"DecodedFile({self.filename!r}, {self.format}, "
            f"{len(self.certificates)} certificates, {len(self.keys)} keys)"
        )


def decode_file(filename: str, data: bytes, passphrase: bytes | None) -> DecodedFile:
    """Everything usable in `data`; raises RejectedFile for anything else."""
    with quietly():
        return _decode_file(filename, data, passphrase)


def _decode_file(filename: str, data: bytes, passphrase: bytes | None) -> DecodedFile:
    if not data.strip():
        raise RejectedFile(filename, "the file is empty")
    if b"-----BEGIN " in data:
        decoded = _decode_pem(filename, data, passphrase)
    elif _BASE64_ONLY.match(data):
        decoded = _decode_der(filename, _unwrap_base64(filename, data), passphrase)
        decoded.format = "base64 " + decoded.format
    else:
        decoded = _decode_der(filename, data, passphrase)

    decoded.facts = [check_readable(filename, c) for c in decoded.certificates]
    if not decoded.certificates and not decoded.keys:
        raise RejectedFile(filename, "holds no certificate and no private key")
    return decoded


def _decode_pem(filename: str, data: bytes, passphrase: bytes | None) -> DecodedFile:
    decoded = DecodedFile(filename, "PEM")
    blocks = list(_PEM_BLOCK.finditer(data))
    if len(blocks) < len(_PEM_BEGIN.findall(data)):
        raise RejectedFile(
            filename, "a PEM block has no matching END line: the file is truncated"
        )

    for number, match in enumerate(blocks, start=1):
        label = match.group(1)
        text = label.decode()
        pem = match.group(0)
        where = f"PEM block {number} ({text})"
        if label in _CERT_LABELS:
            pem = pem.replace(b"X509 CERTIFICATE", b"CERTIFICATE")
            cert = _load(filename, where, x509.load_pem_x509_certificate, pem)
            decoded.certificates.append(cert)
        elif label == b"PKCS7":
            decoded.certificates += _load_pkcs7(filename, where, pem, pem=True)
        elif label in _KEY_LABELS:
            key = _load_key(
                filename, where, serialization.load_pem_private_key, pem, passphrase
            )
            decoded.keys.append(key)
        elif label in _IGNORED_LABELS:
            continue
        elif label in _REQUEST_LABELS:
            raise RejectedFile(filename, f"{where}: {_CSR_ADVICE}")
        elif label == b"X509 CRL":
            raise RejectedFile(filename, f"{where}: {_CRL_ADVICE}")
        elif label in _PUBLIC_KEY_LABELS:
            raise RejectedFile(filename, f"{where}: {_PUBLIC_KEY_ADVICE}")
        elif label in (b"DSA PRIVATE KEY", b"OPENSSH PRIVATE KEY"):
            raise RejectedFile(
                filename,
                f"{where}: unsupported key format; certdesk takes RSA and ECDSA "
                "keys in PKCS#1, PKCS#8 or SEC1 form",
            )
        else:
            raise RejectedFile(filename, f"{where}: unsupported PEM block type")
    return decoded


def _decode_der(filename: str, data: bytes, passphrase: bytes | None) -> DecodedFile:
    """Try each binary format in turn; the first that parses decides."""
    try:
        cert = x509.load_der_x509_certificate(data)
    except PARSE_ERRORS:
        pass
    else:
        return DecodedFile(filename, "DER certificate", certificates=[cert])

    try:
        certs = _pkcs7_der(data)
    except PARSE_ERRORS:
        pass
    else:
        return DecodedFile(filename, "PKCS#7", certificates=certs)

    p12 = _try_pkcs12(filename, data, passphrase)
    if p12 is not None:
        return p12

    # The batch passphrase is offered only to a key that is encrypted: an
    # unencrypted key next to a PKCS#12 file must not fail for having one.
    encrypted = _is_encrypted_der_key(data)
    try:
        key = serialization.load_der_private_key(
            data, passphrase if encrypted else None
        )
    except TypeError as exc:
        raise _passphrase_error(filename, "private key", passphrase) from exc
    except ValueError as exc:
        if encrypted:
            raise _passphrase_error(filename, "private key", passphrase) from exc
    except UnsupportedAlgorithm as exc:
        raise RejectedFile(filename, "private key of an unsupported algorithm") from exc
    else:
        return DecodedFile(filename, "DER private key", keys=[_held(filename, key)])

    _reject_other_der(filename, data)
    raise RejectedFile(
        filename,
        "not a certificate, private key, PKCS#7 or PKCS#12 file, or the file is "
        "truncated or damaged",
    )


def _try_pkcs12(
    filename: str, data: bytes, passphrase: bytes | None
) -> DecodedFile | None:
    try:
        bundle = pkcs12.load_pkcs12(data, passphrase)
    except ValueError as exc:
        # cryptography tells "not PKCS#12 at all" apart from "cannot decrypt".
        if "Invalid password" in str(exc):
            # cryptography cannot tell a wrong passphrase from a damaged file.
            if passphrase is None:
                raise WrongPassphrase(
                    filename,
                    "PKCS#12 file is encrypted (or damaged): give its passphrase "
                    "(--passphrase-file)",
                ) from exc
            raise WrongPassphrase(
                filename,
                "the passphrase does not open this PKCS#12 file, or the file is "
                "damaged",
            ) from exc
        return None
    except UnsupportedAlgorithm as exc:
        raise RejectedFile(
            filename, "PKCS#12 file uses an unsupported encryption algorithm"
        ) from exc

    decoded = DecodedFile(filename, "PKCS#12")
    if bundle.key is not None:
        decoded.keys.append(_held(filename, bundle.key))
    members = [bundle.cert] if bundle.cert is not None else []
    members += list(bundle.additional_certs)
    for position, member in enumerate(members):
        decoded.certificates.append(member.certificate)
        if member.friendly_name:
            name = printable(member.friendly_name.decode("utf-8", "replace").strip())
            if name:
                decoded.friendly_names[position] = name
    return decoded


def _reject_other_der(filename: str, data: bytes) -> None:
    """Name the binary things that are not certificates, for a useful message."""
    for loader, advice in (
        (x509.load_der_x509_csr, _CSR_ADVICE),
        (x509.load_der_x509_crl, _CRL_ADVICE),
        (serialization.load_der_public_key, _PUBLIC_KEY_ADVICE),
    ):
        try:
            loader(data)
        except PARSE_ERRORS:
            continue
        raise RejectedFile(filename, advice)


def _pkcs7_der(data: bytes) -> list[x509.Certificate]:
    # BER (indefinite lengths, as some Windows tools write) is accepted by
    # cryptography with a warning, silenced by `quietly`; the certificates
    # inside are the same.
    return pkcs7.load_der_pkcs7_certificates(data)


def _load_pkcs7(
    filename: str, where: str, data: bytes, *, pem: bool
) -> list[x509.Certificate]:
    try:
        if pem:
            return pkcs7.load_pem_pkcs7_certificates(data)
        return _pkcs7_der(data)
    except UnsupportedAlgorithm as exc:
        raise RejectedFile(filename, f"{where} uses an unsupported algorithm") from exc
    except PARSE_ERRORS as exc:
        raise RejectedFile(filename, f"{where} is damaged or truncated") from exc


def _load(
    filename: str,
    where: str,
    loader: Callable[[bytes], x509.Certificate],
    data: bytes,
) -> x509.Certificate:
    try:
        return loader(data)
    except UnsupportedAlgorithm as exc:
        raise RejectedFile(filename, f"{where} uses an unsupported algorithm") from exc
    except PARSE_ERRORS as exc:
        raise RejectedFile(filename, f"{where} is damaged or truncated") from exc


def _load_key(
    filename: str,
    where: str,
    loader: Callable[[bytes, bytes | None], PrivateKeyTypes],
    data: bytes,
    passphrase: bytes | None,
) -> HeldKey:
    encrypted = b"ENCRYPTED" in data
    try:
        key = loader(data, passphrase if encrypted else None)
    except TypeError as exc:
        raise _passphrase_error(filename, where, passphrase) from exc
    except ValueError as exc:
        if encrypted:
            raise _passphrase_error(filename, where, passphrase) from exc
        # The cause is left out on purpose: it may quote the key's own fields.
        raise RejectedFile(filename, f"{where} is damaged or not a valid key") from None
    except UnsupportedAlgorithm as exc:
        raise RejectedFile(filename, f"{where} uses an unsupported algorithm") from exc
    return _held(filename, key)


def _held(filename: str, key: PrivateKeyTypes) -> HeldKey:
    held = as_held_key(key)
    if held is None:
        algorithm = type(key).__name__.removeprefix("_").replace("PrivateKey", "")
        raise RejectedFile(
            filename,
            f"{algorithm} private keys are not supported; certdesk serves RSA and "
            "ECDSA keys",
        )
    return held


def _passphrase_error(
    filename: str, what: str, passphrase: bytes | None
) -> WrongPassphrase:
    if passphrase is None:
        return WrongPassphrase(
            filename, f"{what} is encrypted: give its passphrase (--passphrase-file)"
        )
    return WrongPassphrase(filename, f"the passphrase does not open this {what}")


def _is_encrypted_der_key(data: bytes) -> bool:
    """Whether a DER blob is an EncryptedPrivateKeyInfo (PKCS#8 encrypted).

    Loading it without a password raises TypeError; with a wrong one, the same
    ValueError as garbage, so the absence of a password tells them apart.
    """
    try:
        serialization.load_der_private_key(data, None)
    except TypeError:
        return True
    except (ValueError, UnsupportedAlgorithm):
        return False
    return False


def _unwrap_base64(filename: str, data: bytes) -> bytes:
    try:
        return base64.b64decode(b"".join(data.split()), validate=True)
    except binascii.Error as exc:
        raise RejectedFile(filename, "base64 text that does not decode") from exc
