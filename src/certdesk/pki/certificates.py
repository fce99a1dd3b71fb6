"""Facts about one certificate: identity, names, validity, key, role, signature.

`read_facts` reads every field certdesk relies on at once, so that a
certificate which parses but fails when a field is read is rejected at import
instead of failing later in a listing or a handshake.
"""

import contextlib
import datetime as dt
import enum
import unicodedata
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID

from certdesk.errors import RejectedFile
from certdesk.pki.keys import KeyDescription, describe_public_key, spki_sha256

_Ext = TypeVar("_Ext", bound=x509.ExtensionType)

# What cryptography raises for a certificate that parses but has a bad field:
# not all of these derive from ValueError.
PARSE_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    TypeError,
    UnsupportedAlgorithm,
    x509.InvalidVersion,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
)


@contextlib.contextmanager
def quietly() -> Iterator[None]:
    """Silence cryptography's warnings about old but readable encodings.

    Negative serial numbers, over-long name attributes and BER where DER is
    due are warned about by cryptography; the values are still read correctly,
    and such certificates exist in the wild (some long-lived roots among them).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        yield


def load_stored(der: bytes) -> x509.Certificate:
    """A certificate the store holds, which was checked when it came in."""
    with quietly():
        return x509.load_der_x509_certificate(der)


class Role(enum.StrEnum):
    """How a certificate is recognised (DESIGN.md vocabulary)."""

    SERVER = "server"
    INTERMEDIATE = "intermediate"
    ROOT = "root"


class Signature(enum.StrEnum):
    """The verdict on one certificate's signature by a candidate issuer."""

    VALID = "valid"
    INVALID = "invalid"
    # The algorithm is too old for cryptography to check at all (MD2, MD4, or
    # an unknown OID): neither good nor bad can be said.
    UNCHECKABLE = "uncheckable"


# Hash algorithms whose collisions are practical; signatures using them are
# forgeable and flagged even when they verify.
WEAK_HASHES = frozenset({"md5", "sha1"})


@dataclass(frozen=True)
class CertificateFacts:
    """What certdesk stores and shows about a certificate."""

    fingerprint_sha256: str
    fingerprint_sha1: str
    serial: str
    subject: str
    issuer: str
    subject_cn: str | None
    issuer_cn: str | None
    not_before: dt.datetime
    not_after: dt.datetime
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    key: KeyDescription
    spki_sha256: str
    signature_algorithm: str
    signature_hash: str | None
    is_ca: bool
    self_issued: bool
    subject_key_id: str | None
    authority_key_id: str | None
    role: Role

    @property
    def sans(self) -> list[str]:
        return [*self.dns_names, *self.ip_addresses]

    @property
    def display_name(self) -> str:
        """A short label: the CN, else the first SAN, else the subject."""
        return printable(
            self.subject_cn or (self.sans[0] if self.sans else self.subject)
        )


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def read_facts(cert: x509.Certificate) -> CertificateFacts:
    """Read every field certdesk uses; raises one of PARSE_ERRORS."""
    with quietly():
        return _read_facts(cert)


def _read_facts(cert: x509.Certificate) -> CertificateFacts:
    public = cert.public_key()
    # One pass over the extensions: looking each up by class walks them again.
    extensions = {type(e.value): e.value for e in cert.extensions}
    constraints = _extension(extensions, x509.BasicConstraints)
    is_ca = bool(constraints and constraints.ca)
    subject, issuer = cert.subject, cert.issuer
    self_issued = subject == issuer

    san = _extension(extensions, x509.SubjectAlternativeName)
    dns: list[str] = []
    ip_list: list[str] = []
    for general_name in san or ():
        if isinstance(general_name, x509.DNSName):
            dns.append(general_name.value)
        elif isinstance(general_name, x509.IPAddress):
            ip_list.append(str(general_name.value))
    dns_names, ips = tuple(dns), tuple(ip_list)

    ski = _extension(extensions, x509.SubjectKeyIdentifier)
    aki = _extension(extensions, x509.AuthorityKeyIdentifier)
    aki_hex = aki.key_identifier.hex() if aki and aki.key_identifier else None

    try:
        hash_algorithm = cert.signature_hash_algorithm
        signature_hash = hash_algorithm.name if hash_algorithm else None
    except UnsupportedAlgorithm:
        signature_hash = "unknown"
    signature_name = getattr(cert.signature_algorithm_oid, "_name", "unknown")
    if signature_name == "Unknown OID":
        signature_name = cert.signature_algorithm_oid.dotted_string

    facts = CertificateFacts(
        fingerprint_sha256=fingerprint(cert),
        fingerprint_sha1=cert.fingerprint(hashes.SHA1()).hex(),  # noqa: S303
        serial=_serial(cert),
        subject=subject.rfc4514_string(),
        issuer=issuer.rfc4514_string(),
        subject_cn=_common_name(subject),
        issuer_cn=_common_name(issuer),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        dns_names=dns_names,
        ip_addresses=ips,
        key=describe_public_key(public),
        spki_sha256=spki_sha256(public),
        signature_algorithm=signature_name,
        signature_hash=signature_hash,
        is_ca=is_ca,
        self_issued=self_issued,
        subject_key_id=ski.digest.hex() if ski else None,
        authority_key_id=aki_hex,
        role=Role.SERVER,
    )
    return _with_role(cert, facts)


def check_readable(filename: str, cert: x509.Certificate) -> CertificateFacts:
    """`read_facts`, with a failure turned into a rejection of `filename`.

    Called by the decoder, which already runs `quietly`.
    """
    try:
        return _read_facts(cert)
    except UnsupportedAlgorithm as exc:
        raise RejectedFile(
            filename, f"certificate uses an unsupported algorithm ({exc})"
        ) from exc
    except PARSE_ERRORS as exc:
        raise RejectedFile(
            filename, f"certificate is malformed and cannot be read ({exc})"
        ) from exc


def check_signature(cert: x509.Certificate, issuer: x509.Certificate) -> Signature:
    """Whether `issuer`'s key made `cert`'s signature."""
    try:
        cert.verify_directly_issued_by(issuer)
        return Signature.VALID
    except InvalidSignature:
        return Signature.INVALID
    except (ValueError, TypeError, UnsupportedAlgorithm):
        pass

    # verify_directly_issued_by refuses SHA-1 and MD5 outright; check those
    # by hand so a chain of old certificates is still ordered by signature.
    try:
        hash_algorithm = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return Signature.UNCHECKABLE
    if hash_algorithm is None:
        return Signature.UNCHECKABLE
    key = issuer.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(
                cert.signature,
                cert.tbs_certificate_bytes,
                padding.PKCS1v15(),
                hash_algorithm,
            )
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(
                cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hash_algorithm)
            )
        else:
            return Signature.UNCHECKABLE
    except InvalidSignature:
        return Signature.INVALID
    except (UnsupportedAlgorithm, ValueError, TypeError):
        return Signature.UNCHECKABLE
    return Signature.VALID


def is_self_signed(cert: x509.Certificate, facts: CertificateFacts) -> bool:
    """Signed by its own key, which is more than subject equal to issuer."""
    if not facts.self_issued:
        return False
    verdict = check_signature(cert, cert)
    if verdict is Signature.UNCHECKABLE:
        # Fall back to the key identifiers when the signature cannot be read.
        return facts.authority_key_id in (None, facts.subject_key_id)
    return verdict is Signature.VALID


def _with_role(cert: x509.Certificate, facts: CertificateFacts) -> CertificateFacts:
    if facts.is_ca or (cert.version is x509.Version.v1 and facts.self_issued):
        role = Role.ROOT if is_self_signed(cert, facts) else Role.INTERMEDIATE
        return replace(facts, role=role)
    return facts


def _extension(extensions: dict[type, object], kind: type[_Ext]) -> _Ext | None:
    value = extensions.get(kind)
    return value if isinstance(value, kind) else None


def _serial(cert: x509.Certificate) -> str:
    # Some long-lived roots have zero or negative serials, which RFC 5280
    # forbids; the sign is kept so the value matches what other tools show.
    return format(cert.serial_number, "x")


def _common_name(name: x509.Name) -> str | None:
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not values:
        return None
    value = values[0].value
    text = value if isinstance(value, str) else value.decode("utf-8", "replace")
    return printable(text)


def printable(text: str, limit: int = 200) -> str:
    """`text` fit for a label: control characters replaced, length bounded.

    Names come from certificates made by anyone; a NUL or an escape sequence
    must not reach a terminal, a log line or a database that refuses it.
    """
    if text.isprintable():
        return text[:limit]
    cleaned = "".join("?" if unicodedata.category(c) == "Cc" else c for c in text)
    return cleaned[:limit]


__all__ = [
    "WEAK_HASHES",
    "CertificateFacts",
    "Role",
    "Signature",
    "check_readable",
    "check_signature",
    "fingerprint",
    "is_self_signed",
    "read_facts",
]
