import datetime as dt
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from certdesk.pki.certificates import Signature, check_signature, read_facts
from certdesk.pki.chain import (
    Candidate,
    CertificateIndex,
    ChainBuilder,
    ChainStatus,
    build_chain,
)
from certdesk.pki.inspect import ChainState, certificate_warnings
from tests.pkitools import NOW, Issued, make_ca, make_leaf, rsa_key, three_levels

SHA1_RSA = bytes.fromhex("2a864886f70d010105")  # OID 1.2.840.113549.1.1.5
MD2_RSA = bytes.fromhex("2a864886f70d010102")  # OID 1.2.840.113549.1.1.2


def _candidate(cert: x509.Certificate) -> Candidate:
    return Candidate(cert, read_facts(cert))


def test_chain_is_ordered_from_the_leaf_up() -> None:
    levels = three_levels()
    pool = CertificateIndex(
        [_candidate(levels.root.cert), _candidate(levels.intermediate.cert)]
    )
    chain = build_chain(_candidate(levels.leaf.cert), pool, CertificateIndex())
    assert chain.status is ChainStatus.COMPLETE
    assert [c.facts.fingerprint_sha256 for c in chain.issuers] == [
        levels.intermediate.fingerprint,
        levels.root.fingerprint,
    ]
    assert chain.problem is None


def test_trust_roots_complete_a_short_chain() -> None:
    levels = three_levels()
    pool = CertificateIndex([_candidate(levels.intermediate.cert)])
    roots = CertificateIndex([_candidate(levels.root.cert)])
    chain = build_chain(_candidate(levels.leaf.cert), pool, roots)
    assert chain.status is ChainStatus.COMPLETE
    assert chain.from_trust_store == (levels.root.fingerprint,)


def _sha1_leaf(root: Issued, tmp_path: Path) -> x509.Certificate:
    """cryptography no longer signs with SHA-1; the openssl command line still can."""
    (tmp_path / "root.pem").write_bytes(root.pem)
    (tmp_path / "root.key").write_bytes(root.key_pem)
    (tmp_path / "ext").write_text("subjectAltName=DNS:old.example.test\n")
    subprocess.run(
        [
            "openssl",
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=old.example.test",
            "-keyout",
            str(tmp_path / "leaf.key"),
            "-out",
            str(tmp_path / "leaf.csr"),
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            "openssl",
            "x509",
            "-req",
            "-sha1",
            "-in",
            str(tmp_path / "leaf.csr"),
            "-CA",
            str(tmp_path / "root.pem"),
            "-CAkey",
            str(tmp_path / "root.key"),
            "-set_serial",
            "5",
            "-days",
            "30",
            "-extfile",
            str(tmp_path / "ext"),
            "-out",
            str(tmp_path / "leaf.pem"),
        ],
        check=True,
        capture_output=True,
    )
    return x509.load_pem_x509_certificate((tmp_path / "leaf.pem").read_bytes())


def test_sha1_signature_still_orders_the_chain_and_is_flagged(tmp_path: Path) -> None:
    root = make_ca("SHA1 Root", key=rsa_key())
    leaf = _sha1_leaf(root, tmp_path)
    assert check_signature(leaf, root.cert) is Signature.VALID
    pool = CertificateIndex([_candidate(root.cert)])
    chain = build_chain(_candidate(leaf), pool, CertificateIndex())
    assert chain.status is ChainStatus.COMPLETE
    warnings = certificate_warnings(
        read_facts(leaf), ChainState(chain.status), now=NOW, has_key=True
    )
    assert "weak-signature" in [w.code for w in warnings]


def test_obsolete_algorithm_is_uncheckable_not_bad(tmp_path: Path) -> None:
    root = make_ca("Old Root", key=rsa_key())
    leaf = _sha1_leaf(root, tmp_path)
    der = leaf.public_bytes(serialization.Encoding.DER).replace(SHA1_RSA, MD2_RSA)
    md2 = x509.load_der_x509_certificate(der)
    assert check_signature(md2, root.cert) is Signature.UNCHECKABLE

    chain = build_chain(
        _candidate(md2), CertificateIndex([_candidate(root.cert)]), CertificateIndex()
    )
    assert chain.status is ChainStatus.COMPLETE
    assert any("cannot be checked" in n for n in chain.notes)
    warnings = certificate_warnings(
        read_facts(md2),
        ChainState(chain.status, uncheckable=True),
        now=NOW,
        has_key=False,
    )
    assert "signature-uncheckable" in [w.code for w in warnings]


def test_a_bad_signature_is_not_linked() -> None:
    root = make_ca("Root A")
    leaf = make_leaf(root, "a.example.test")
    tampered = bytearray(leaf.der)
    tampered[-3] ^= 0x01
    broken = x509.load_der_x509_certificate(bytes(tampered))
    assert check_signature(broken, root.cert) is Signature.INVALID
    chain = build_chain(
        _candidate(broken),
        CertificateIndex([_candidate(root.cert)]),
        CertificateIndex(),
    )
    assert chain.status is ChainStatus.INCOMPLETE


def test_ca_flagged_leaf_is_reported_by_the_verifier() -> None:
    root = make_ca("Root")
    # A "leaf" that is itself a CA, as `openssl req -x509` makes by default.
    server_like = make_ca("ca-leaf.example.test", parent=root)
    facts = read_facts(server_like.cert)
    warnings = certificate_warnings(
        facts, ChainState(ChainStatus.COMPLETE), now=NOW, has_key=True
    )
    assert "ca-as-server" in [w.code for w in warnings]


def test_verifier_problem_names_a_missing_server_usage() -> None:
    root = make_ca("Root")
    now = NOW
    key = rsa_key()
    client_only = (
        x509.CertificateBuilder()
        .subject_name(x509.Name.from_rfc4514_string("CN=client.example.test"))
        .issuer_name(root.cert.subject)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("client.example.test")]),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .sign(root.key, hashes.SHA256())
    )
    chain = build_chain(
        _candidate(client_only),
        CertificateIndex([_candidate(root.cert)]),
        CertificateIndex(),
    )
    assert chain.status is ChainStatus.COMPLETE
    assert chain.problem is not None


def test_one_builder_judges_each_leaf_profile_on_its_own() -> None:
    """The verdict is shared only by leaves the verifier cannot tell apart."""
    root = make_ca("Shared Root")
    builder = ChainBuilder(
        CertificateIndex([_candidate(root.cert)]), CertificateIndex()
    )
    good = [make_leaf(root, f"ok{i}.example.test") for i in range(3)]
    bad = make_leaf(
        root, "client.example.test", usage=x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH
    ).cert

    verdicts = [builder.build(_candidate(leaf.cert)).problem for leaf in good]
    assert verdicts == [None, None, None]
    assert builder.build(_candidate(bad)).problem is not None
    assert builder.build(_candidate(good[0].cert)).problem is None
