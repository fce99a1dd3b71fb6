"""Damaged files are decoded or rejected with certdesk's own errors, nothing else.

Valid files of every format certdesk imports are mutated at random (bytes
flipped, overwritten, inserted or duplicated, the file truncated, and for PEM
the DER inside a block or the base64 text itself changed). Whatever comes out,
`decode_file` must return a usable `DecodedFile` or raise a `CertdeskError`
(`RejectedFile`, `WrongPassphrase`): any other exception would reach the CLI
as a crash. A sample of the mutations that decode is then imported end to end.

Warnings raised by cryptography while parsing are recorded, not failed on,
by the properties. The plain tests at the end pin the inputs found so far:
exceptions out of decode_file, warnings out of decode_file and import_files
(the suite runs with warnings as errors), and names PostgreSQL cannot store.
"""

import base64
import binascii
import contextlib
import datetime as dt
import re
import warnings
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st

from certdesk.errors import CertdeskError, WrongPassphrase
from certdesk.pki.decode import DecodedFile, decode_file
from certdesk.pki.keys import as_held_key
from certdesk.services.context import Context
from certdesk.services.importing import ImportFile, import_files
from tests.pkitools import NOW, Issued, ec_key, make_ca, make_leaf, rsa_key

PASSPHRASE = b"correct horse battery staple"
WRONG_PASSPHRASE = b"not the passphrase"

Enc = serialization.Encoding
Fmt = serialization.PrivateFormat
_PLAIN = serialization.NoEncryption()
_LOCKED = serialization.BestAvailableEncryption(PASSPHRASE)

# --- Seeds: one valid file per format, built once -----------------------------

_ROOT = make_ca("Mutation Root CA")
_INTERMEDIATE = make_ca("Mutation Intermediate CA", parent=_ROOT)
_EC_LEAF = make_leaf(_INTERMEDIATE, "ec.example.test", "www.ec.example.test")
# 1024 bits keeps the RSA consistency check on every load cheap; the parsing
# under test does not depend on the size.
_RSA_LEAF = make_leaf(_INTERMEDIATE, "rsa.example.test", key=rsa_key(1024))


@dataclass(frozen=True)
class Seed:
    """A valid file, its passphrase, and what must come with it on import."""

    data: bytes
    passphrase: bytes | None = None
    # Files imported alongside: a key needs its certificate, a certificate
    # gains a chain from its issuers.
    companions: tuple[ImportFile, ...] = ()

    @property
    def pem(self) -> bool:
        return b"-----BEGIN " in self.data


def _pem_of(*issued: Issued) -> bytes:
    return b"".join(i.pem for i in issued)


_CHAIN = ImportFile("chain.pem", _pem_of(_INTERMEDIATE, _ROOT))


def _key_bytes(issued: Issued, encoding: Enc, form: Fmt, locked: bool) -> bytes:
    return issued.key.private_bytes(encoding, form, _LOCKED if locked else _PLAIN)


def _with_cert(issued: Issued) -> tuple[ImportFile, ...]:
    return (ImportFile("cert.pem", issued.pem), _CHAIN)


SEEDS: dict[str, Seed] = {
    "cert.pem": Seed(_EC_LEAF.pem, companions=(_CHAIN,)),
    "bundle.pem": Seed(
        b"Bundle for ec.example.test\r\n\r\n"
        + b"subject=CN = ec.example.test\n"
        + _EC_LEAF.pem
        + b"\n# issuer follows\nsubject=CN = Mutation Intermediate CA\n"
        + _INTERMEDIATE.pem
        + b"-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n"
        + b"-----END EC PARAMETERS-----\n"
        + _ROOT.pem
        + b"trailing text\n"
    ),
    "cert.der": Seed(_EC_LEAF.der, companions=(_CHAIN,)),
    "chain.p7b": Seed(
        pkcs7.serialize_certificates(
            [_EC_LEAF.cert, _INTERMEDIATE.cert, _ROOT.cert], Enc.DER
        )
    ),
    "chain.p7b.pem": Seed(
        pkcs7.serialize_certificates([_RSA_LEAF.cert, _INTERMEDIATE.cert], Enc.PEM),
        companions=(_CHAIN,),
    ),
    "locked.p12": Seed(
        pkcs12.serialize_key_and_certificates(
            b"ec.example.test",
            _EC_LEAF.key,
            _EC_LEAF.cert,
            [_INTERMEDIATE.cert, _ROOT.cert],
            _LOCKED,
        ),
        passphrase=PASSPHRASE,
    ),
    "open.p12": Seed(
        pkcs12.serialize_key_and_certificates(
            b"rsa.example.test",
            _RSA_LEAF.key,
            _RSA_LEAF.cert,
            [_INTERMEDIATE.cert],
            _PLAIN,
        ),
        companions=(_CHAIN,),
    ),
    "pkcs8.pem": Seed(
        _key_bytes(_EC_LEAF, Enc.PEM, Fmt.PKCS8, locked=False),
        companions=_with_cert(_EC_LEAF),
    ),
    "pkcs8.der": Seed(
        _key_bytes(_RSA_LEAF, Enc.DER, Fmt.PKCS8, locked=False),
        companions=_with_cert(_RSA_LEAF),
    ),
    "pkcs1.pem": Seed(
        _key_bytes(_RSA_LEAF, Enc.PEM, Fmt.TraditionalOpenSSL, locked=False),
        companions=_with_cert(_RSA_LEAF),
    ),
    "sec1.pem": Seed(
        _key_bytes(_EC_LEAF, Enc.PEM, Fmt.TraditionalOpenSSL, locked=False),
        companions=_with_cert(_EC_LEAF),
    ),
    "locked-pkcs8.pem": Seed(
        _key_bytes(_EC_LEAF, Enc.PEM, Fmt.PKCS8, locked=True),
        passphrase=PASSPHRASE,
        companions=_with_cert(_EC_LEAF),
    ),
}

# --- Mutations -------------------------------------------------------------------

_PEM_BLOCK = re.compile(rb"(-----BEGIN [A-Z0-9 #]+-----\r?\n)(.*?)(-----END )", re.S)
_BASE64_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="


def _note(text: str) -> None:
    """A hypothesis event (see --hypothesis-show-statistics), outside too."""
    if currently_in_test_context():
        event(text)


ALL_KINDS = ("flip", "overwrite", "truncate", "insert", "duplicate")
# The changes most likely to leave a file parseable, for the import test.
GENTLE_KINDS = ("flip", "overwrite")


@st.composite
def byte_mutation(
    draw: st.DrawFn, data: bytes, kinds: tuple[str, ...] = ALL_KINDS, most: int = 8
) -> bytes:
    """`data` with one random change: flip, overwrite, cut, insert or duplicate.

    `most` bounds how many bytes a flip or an overwrite touches.
    """
    if not data:
        return draw(st.binary(min_size=1, max_size=16))
    buf = bytearray(data)
    last = len(buf) - 1
    kind = draw(st.sampled_from(kinds))
    _note(f"mutation: {kind}")
    if kind == "flip":
        for _ in range(draw(st.integers(1, min(most, 4)))):
            buf[draw(st.integers(0, last))] ^= 1 << draw(st.integers(0, 7))
    elif kind == "overwrite":
        start = draw(st.integers(0, last))
        patch = draw(st.binary(min_size=1, max_size=most))
        buf[start : start + len(patch)] = patch[: len(buf) - start]
    elif kind == "truncate":
        del buf[draw(st.integers(0, last)) :]
    elif kind == "insert":
        at = draw(st.integers(0, len(buf)))
        buf[at:at] = draw(st.binary(min_size=1, max_size=16))
    else:
        start = draw(st.integers(0, last))
        end = draw(st.integers(start + 1, min(len(buf), start + 128)))
        at = draw(st.integers(0, len(buf)))
        buf[at:at] = buf[start:end]
    return bytes(buf)


def _wrap64(der: bytes) -> bytes:
    text = base64.b64encode(der)
    return b"".join(text[i : i + 64] + b"\n" for i in range(0, len(text), 64))


def _der_of(body: bytes) -> bytes | None:
    """The DER in a PEM body, or None once earlier mutations broke its base64."""
    try:
        return base64.b64decode(b"".join(body.split()), validate=True)
    except binascii.Error:
        return None


@st.composite
def pem_body_mutation(
    draw: st.DrawFn,
    data: bytes,
    kinds: tuple[str, ...] = ALL_KINDS,
    most: int = 8,
    text: bool = True,
) -> bytes:
    """A change inside one PEM block: to the DER it holds, or to its base64."""
    blocks = list(_PEM_BLOCK.finditer(data))
    if not blocks:
        return draw(byte_mutation(data, kinds, most))
    block = draw(st.sampled_from(blocks))
    body = block.group(2)
    der = _der_of(body)
    if der is not None and not (text and draw(st.booleans())):
        _note("mutation: DER inside PEM")
        new_body = _wrap64(draw(byte_mutation(der, kinds, most)))
    else:
        _note("mutation: base64 text")
        buf = bytearray(body)
        at = draw(st.integers(0, max(len(buf) - 1, 0)))
        char = draw(st.sampled_from(_BASE64_CHARS + b" \n\r\t-"))
        op = draw(st.sampled_from(["replace", "delete", "insert"]))
        if op == "insert" or not buf:
            buf[at:at] = bytes([char])
        elif op == "replace":
            buf[at] = char
        else:
            del buf[at]
        new_body = bytes(buf)
    return data[: block.start(2)] + new_body + data[block.end(2) :]


@st.composite
def mutated(draw: st.DrawFn, seed: Seed, *, gentle: bool = False) -> bytes:
    """One to three stacked mutations of `seed`, or one `gentle` one.

    A gentle mutation flips or overwrites one byte, in PEM only in the DER
    inside a block, so that about half of them get past decoding to import.
    """
    kinds, most = (GENTLE_KINDS, 1) if gentle else (ALL_KINDS, 8)
    data = seed.data
    steps = 1 if gentle else draw(st.sampled_from([1, 1, 1, 2, 3]))
    for _ in range(steps):
        if not seed.pem:
            choice = 9
        elif gentle:
            choice = 1
        else:
            choice = draw(st.integers(0, 9))
        if choice == 0:
            _note("mutation: CRLF line endings")
            data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        elif choice < 8:
            data = draw(pem_body_mutation(data, kinds, most, text=not gentle))
        else:
            data = draw(byte_mutation(data, kinds, most))
    return data


# --- The property --------------------------------------------------------------


def _decode_or_reject(name: str, data: bytes, passphrase: bytes | None) -> bool:
    """True if `data` decoded, False if certdesk rejected it; any other error
    propagates and fails the test."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            decoded = decode_file(name, data, passphrase)
        except CertdeskError as exc:
            _note(f"rejected: {type(exc).__name__}")
            return False
    for warning in caught:
        _note(f"warning: {warning.category.__name__}")
    _check_usable(decoded)
    _note(f"decoded: {decoded.format}")
    return True


def _check_usable(decoded: DecodedFile) -> None:
    assert decoded.certificates or decoded.keys
    assert len(decoded.facts) == len(decoded.certificates)
    for key in decoded.keys:
        assert as_held_key(key) is key
    for position in decoded.friendly_names:
        assert 0 <= position < len(decoded.certificates)


@pytest.mark.parametrize("name", list(SEEDS))
def test_seed_decodes(name: str) -> None:
    seed = SEEDS[name]
    assert _decode_or_reject(name, seed.data, seed.passphrase)
    if seed.passphrase is not None:
        for other in (None, WRONG_PASSPHRASE):
            with pytest.raises(WrongPassphrase):
                decode_file(name, seed.data, other)


@pytest.mark.parametrize("name", list(SEEDS))
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_mutation_is_decoded_or_rejected(name: str, data: st.DataObject) -> None:
    seed = SEEDS[name]
    gentle = data.draw(st.booleans(), label="gentle")
    damaged = data.draw(mutated(seed, gentle=gentle), label="damaged")
    for passphrase in (seed.passphrase, None, WRONG_PASSPHRASE):
        _decode_or_reject(name, damaged, passphrase)


# --- End to end: mutations that decode, imported ---------------------------------


def _import_or_reject(
    ctx: Context, files: list[ImportFile], passphrase: bytes | None
) -> None:
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        try:
            result = import_files(ctx, files, passphrase)
        except CertdeskError as exc:
            _note(f"import rejected: {type(exc).__name__}")
            return
    for item in result.items:
        _note(f"import: {item.kind} {item.outcome}")


# `ctx` is one appliance per database engine shared by all examples, so later
# examples also meet what earlier ones stored (chain repairs, already-present).
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_decodable_mutation_imports_or_is_rejected(
    ctx: Context, data: st.DataObject
) -> None:
    name = data.draw(st.sampled_from(sorted(SEEDS)), label="seed")
    seed = SEEDS[name]
    damaged = data.draw(mutated(seed, gentle=True), label="damaged")
    if not _decode_or_reject(name, damaged, seed.passphrase):
        return
    companions = list(seed.companions) if data.draw(st.booleans()) else []
    files = [ImportFile(name, damaged), *companions]
    _import_or_reject(ctx, files, seed.passphrase)
    # Again: the already-present and key-attached paths.
    _import_or_reject(ctx, files, seed.passphrase)


# --- Inputs found by the property above ----------------------------------------
#
# Each one lets an exception other than CertdeskError out of decode_file.
# Random runs of the property hit the PKCS#7 content type, the version and the
# duplicate extension within a few hundred examples; the ediPartyName SAN is
# the same hole as the duplicate extension, found by reading what
# Certificate.extensions can raise. They are built by patching a known byte
# pattern in this module's certificates, so they do not depend on the random
# keys and serials of a run.

_VERSION_V3 = bytes.fromhex("a003020102")  # [0] EXPLICIT INTEGER 2 (v3)
_OID_BASIC_CONSTRAINTS = bytes.fromhex("0603551d13")
_OID_SAN = bytes.fromhex("0603551d11")
_OID_SIGNED_DATA = bytes.fromhex("06092a864886f70d010702")  # 1.2.840.113549.1.7.2
_OID_ORGANIZATION = bytes.fromhex("060355040a")  # 2.5.4.10
_OID_COUNTRY = bytes.fromhex("0603550406")  # 2.5.4.6


def _patch(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) >= 1, (old.hex(), data.hex())
    return data.replace(old, new, 1)


def _bad_version_der() -> bytes:
    """The leaf with its version INTEGER set to 5 (only 0 and 2 exist)."""
    return _patch(_EC_LEAF.der, _VERSION_V3, bytes.fromhex("a003020105"))


def _as_pem(der: bytes) -> bytes:
    return (
        b"-----BEGIN CERTIFICATE-----\n" + _wrap64(der) + b"-----END CERTIFICATE-----\n"
    )


def _san_bytes(issued: Issued) -> bytes:
    return issued.cert.extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    ).value.public_bytes()


def _edi_party_name_der() -> bytes:
    """The leaf with its first SAN dNSName [2] re-tagged as ediPartyName [5]."""
    san = _san_bytes(_EC_LEAF)
    assert san[2] == 0x82  # SEQUENCE, length, then the first GeneralName tag
    return _patch(_EC_LEAF.der, san, san[:2] + b"\xa5" + san[3:])


def _negative_serial_der() -> bytes:
    """The leaf with the top bit of its serial set: a negative INTEGER."""
    der = bytearray(_EC_LEAF.der)
    at = der.index(_VERSION_V3) + len(_VERSION_V3)
    assert der[at] == 0x02  # serialNumber INTEGER
    der[at + 2] |= 0x80
    return bytes(der)


def _p7_der(*certs: bytes) -> bytes:
    return pkcs7.serialize_certificates(
        [x509.load_der_x509_certificate(c) for c in certs], Enc.DER
    )


def _p7_with_raw(der: bytes) -> bytes:
    """A DER PKCS#7 bundle holding `der` byte for byte (it may not parse)."""
    return _patch(_p7_der(_EC_LEAF.der), _EC_LEAF.der, der)


FOUND: dict[str, tuple[str, bytes]] = {
    # cryptography.exceptions.UnsupportedAlgorithm from
    # pkcs7.load_der_pkcs7_certificates in decode._decode_der: the DER branch
    # catches only ValueError (the PEM PKCS7 branch also catches this one).
    "pkcs7-unknown-content-type": (
        "chain.p7b",
        _patch(
            _p7_der(_EC_LEAF.der),
            _OID_SIGNED_DATA,
            bytes.fromhex("06092a864886f70d010709"),
        ),
    ),
    # cryptography.x509.InvalidVersion (an Exception, not a ValueError) from
    # x509.load_der/pem_x509_certificate, in decode._decode_der, decode._load
    # and inside pkcs7.load_der_pkcs7_certificates.
    "der-certificate-bad-version": ("cert.der", _bad_version_der()),
    "pem-certificate-bad-version": ("cert.pem", _as_pem(_bad_version_der())),
    "pkcs7-member-bad-version": ("chain.p7b", _p7_with_raw(_bad_version_der())),
    # cryptography.x509.DuplicateExtension (an Exception) from
    # Certificate.extensions in certificates.read_facts; check_readable
    # catches only ValueError, TypeError and UnsupportedAlgorithm.
    "duplicate-extension": (
        "cert.der",
        _patch(_EC_LEAF.der, _OID_SAN, _OID_BASIC_CONSTRAINTS),
    ),
    # cryptography.x509.UnsupportedGeneralNameType (an Exception) from
    # Certificate.extensions in certificates.read_facts, same hole.
    "san-edi-party-name": ("cert.der", _edi_party_name_der()),
}


@pytest.mark.parametrize("case", list(FOUND))
def test_found_input_is_decoded_or_rejected(case: str) -> None:
    name, data = FOUND[case]
    for passphrase in (None, PASSPHRASE):
        _decode_or_reject(name, data, passphrase)


# Inputs that decode but let a warning out of decode_file. In production a
# warning is only printed, but the test suite runs with warnings as errors
# (pyproject filterwarnings), and certdesk already silences cryptography's
# warnings for PKCS#7 on purpose.
WARNS: dict[str, tuple[str, bytes]] = {
    # UserWarning "Attribute's length must be >= 2 and <= 2" from x509.Name,
    # read in certificates.read_facts: the O attribute re-tagged as C.
    "country-name-length": (
        "cert.der",
        _patch(_EC_LEAF.der, _OID_ORGANIZATION, _OID_COUNTRY),
    ),
    # UserWarning "PKCS#12 bundle could not be parsed as DER, falling back to
    # parsing as BER" from pkcs12.load_pkcs12 in decode._try_pkcs12: one
    # byte after the end of a valid file.
    "pkcs12-trailing-byte": ("open.p12", SEEDS["open.p12"].data + b"\x00"),
}


@pytest.mark.parametrize("case", list(WARNS))
def test_found_input_lets_no_warning_out(case: str) -> None:
    name, data = WARNS[case]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with contextlib.suppress(CertdeskError):
            decode_file(name, data, None)


def test_stored_negative_serial_lets_no_warning_out_of_later_imports(
    ctx: Context,
) -> None:
    """decode_file silences cryptography's warning on non-positive serials, but
    chains.candidate() reloads stored rows with x509.load_der_x509_certificate
    (refresh_incomplete, stored_pool), so the next import warns
    (CryptographyDeprecationWarning: "Parsed a serial number which wasn't
    positive")."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import_files(ctx, [ImportFile("negative.der", _negative_serial_der())], None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        import_files(ctx, [_CHAIN], None)


# --- Inputs that decode but break the store ----------------------------------
#
# Found by reading the store schema while writing the import property: a
# one-byte overwrite of a CN with 0x00 gets there, but too rarely for the
# example budget above, so they are built directly. SQLite stores them;
# PostgreSQL refuses NUL in text and enforces String(200) on certificates.name,
# so sqlalchemy.exc.DataError escapes import_files from the INSERT INTO
# certificates at session.flush() in importing._store_batch.


def _signed_by_intermediate(
    subject: x509.Name, key: ec.EllipticCurvePrivateKey
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(_INTERMEDIATE.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=90))
        .sign(_INTERMEDIATE.key, hashes.SHA256())
    )


def _nul_in_common_name() -> ImportFile:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nul\x00name")])
    cert = _signed_by_intermediate(subject, ec_key())
    return ImportFile("nul-cn.pem", cert.public_bytes(Enc.PEM))


def _long_subject_without_cn() -> ImportFile:
    """No CN and no SAN: the friendly name falls back to the 309-character DN."""
    unit = x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "u" * 60)
    cert = _signed_by_intermediate(x509.Name([unit] * 5), ec_key())
    return ImportFile("long-subject.pem", cert.public_bytes(Enc.PEM))


def _nul_in_friendly_name() -> ImportFile:
    key = ec_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "p12.example")])
    cert = _signed_by_intermediate(subject, key)
    p12 = pkcs12.serialize_key_and_certificates(b"a\x00b", key, cert, None, _PLAIN)
    return ImportFile("nul-name.p12", p12)


STORE_BREAKERS = {
    "nul-in-common-name": _nul_in_common_name,
    "long-subject-without-cn": _long_subject_without_cn,
    "nul-in-pkcs12-friendly-name": _nul_in_friendly_name,
}


@pytest.mark.parametrize("case", list(STORE_BREAKERS))
def test_decodable_input_imports_or_is_rejected(ctx: Context, case: str) -> None:
    _import_or_reject(ctx, [STORE_BREAKERS[case](), _CHAIN], None)
