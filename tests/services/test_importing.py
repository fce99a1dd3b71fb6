import itertools
from typing import Any

import certifi
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from certdesk.errors import RejectedFile, WrongPassphrase
from certdesk.pki.certificates import read_facts
from certdesk.pki.chain import Candidate, CertificateIndex
from certdesk.pki.keys import KeyType
from certdesk.pki.names import check_subject
from certdesk.services import certificates, requests
from certdesk.services import importing as importing_service
from certdesk.services.context import Context
from certdesk.services.importing import ImportFile, import_files
from certdesk.services.views import CertificateView
from tests.pkitools import Issued, make_ca, make_leaf, rsa_key, three_levels


def _by_fingerprint(ctx: Context, fingerprint: str) -> CertificateView:
    for view in certificates.list_certificates(ctx):
        if view.facts.fingerprint_sha256 == fingerprint:
            return view
    raise AssertionError(f"{fingerprint} not stored")


def _chain_summary(view: CertificateView) -> tuple[str, list[tuple[str, str]]]:
    return view.chain_status, [(c.fingerprint_sha256, c.role) for c in view.chain]


def _pem_files(*members: Issued) -> list[ImportFile]:
    return [ImportFile(f"{m.name}.pem", m.pem) for m in members]


def _packagings(levels: Any) -> dict[str, list[ImportFile]]:
    root, mid, leaf = levels.root, levels.intermediate, levels.leaf
    certs = [leaf.cert, mid.cert, root.cert]
    p12 = pkcs12.serialize_key_and_certificates(
        b"site",
        leaf.key,
        leaf.cert,
        [root.cert, mid.cert],
        serialization.NoEncryption(),
    )
    return {
        "separate": _pem_files(root, leaf, mid),
        "bundle": [
            ImportFile("bundle.pem", mid.pem + b"\nnotes\n" + root.pem + leaf.pem)
        ],
        "pkcs7": [
            ImportFile(
                "chain.p7b",
                pkcs7.serialize_certificates(certs[::-1], serialization.Encoding.DER),
            )
        ],
        "pkcs12": [ImportFile("site.pfx", p12)],
    }


def test_three_levels_import_alike_in_any_order_and_packaging(
    ctx: Context,
) -> None:
    levels = three_levels("www.example.test")
    expected = (
        "complete",
        [
            (levels.intermediate.fingerprint, "intermediate"),
            (levels.root.fingerprint, "root"),
        ],
    )
    for name, files in _packagings(levels).items():
        for order in itertools.permutations(files):
            import_files(ctx, list(order), None)
            view = _by_fingerprint(ctx, levels.leaf.fingerprint)
            assert _chain_summary(view) == expected, name
            # Start again for the next packaging, leaving only the factory default.
            certificates.delete(ctx, str(view.id))
            assert len(certificates.list_certificates(ctx)) == 1


def test_missing_intermediate_is_named_and_repaired_when_it_arrives(
    ctx: Context,
) -> None:
    levels = three_levels()
    import_files(ctx, _pem_files(levels.leaf, levels.root), None)
    view = _by_fingerprint(ctx, levels.leaf.fingerprint)
    assert view.chain_status == "incomplete"
    assert "Test Intermediate CA" in (view.chain_missing or "")
    assert "chain-incomplete" in [w.code for w in view.warnings]

    result = import_files(ctx, _pem_files(levels.intermediate), None)
    assert view.id in result.repaired_chains
    repaired = _by_fingerprint(ctx, levels.leaf.fingerprint)
    assert repaired.chain_status == "complete"
    assert "chain-incomplete" not in [w.code for w in repaired.warnings]


def test_guide_order_leaf_then_intermediate_then_root(ctx: Context) -> None:
    levels = three_levels()
    for member in (levels.leaf, levels.intermediate, levels.root):
        import_files(ctx, _pem_files(member), None)
    view = _by_fingerprint(ctx, levels.leaf.fingerprint)
    assert view.chain_status == "complete"
    assert [c.role for c in view.chain] == ["intermediate", "root"]


def test_unrelated_ca_in_a_bundle_is_ignored(ctx: Context) -> None:
    levels = three_levels()
    stranger = make_ca("Unrelated Root")
    result = import_files(
        ctx,
        [
            ImportFile(
                "b.pem",
                levels.leaf.pem
                + stranger.pem
                + levels.intermediate.pem
                + levels.root.pem,
            )
        ],
        None,
    )
    ignored = [i for i in result.items if i.outcome == "ignored"]
    assert [i.fingerprint_sha256 for i in ignored] == [stranger.fingerprint]
    stored = {v.facts.fingerprint_sha256 for v in certificates.list_certificates(ctx)}
    assert stranger.fingerprint not in stored


def test_same_name_different_key_is_told_apart_by_signature(ctx: Context) -> None:
    root = make_ca("Test Root CA")
    real = make_ca("Twin Intermediate", parent=root)
    twin = make_ca("Twin Intermediate", parent=root)  # same subject, other key
    leaf = make_leaf(real, "twin.example.test")
    import_files(ctx, _pem_files(twin, root), None)
    import_files(ctx, _pem_files(leaf, real), None)
    view = _by_fingerprint(ctx, leaf.fingerprint)
    assert view.chain[0].fingerprint_sha256 == real.fingerprint


def test_subject_equal_to_issuer_is_not_enough_for_a_root(ctx: Context) -> None:
    signer = make_ca("Look-alike")
    other = make_ca("Look-alike", parent=signer, key=rsa_key())
    facts = read_facts(other.cert)
    assert facts.self_issued
    assert str(facts.role) == "intermediate"
    assert str(read_facts(signer.cert).role) == "root"


def test_importing_twice_says_already_present(ctx: Context) -> None:
    levels = three_levels()
    import_files(ctx, _pem_files(levels.leaf, levels.intermediate, levels.root), None)
    before = len(certificates.list_certificates(ctx))
    again = import_files(
        ctx, _pem_files(levels.leaf, levels.intermediate, levels.root), None
    )
    assert {i.outcome for i in again.items} == {"already-present"}
    assert len(certificates.list_certificates(ctx)) == before


def _sign_request(pem: str, ca: Issued, *, days: int = 90) -> x509.Certificate:
    csr = x509.load_pem_x509_csr(pem.encode())
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    now = ca.cert.not_valid_before_utc
    import datetime as dt

    return (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(ca.cert.subject)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + dt.timedelta(days=29))
        .not_valid_after(now + dt.timedelta(days=29 + days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(san.value, critical=False)
        .sign(ca.key, hashes.SHA256())
    )


def test_signed_request_is_linked_to_its_key_and_fulfilled(ctx: Context) -> None:
    levels = three_levels()
    subject = check_subject(common_name="Support", sans=["support.example.test"])
    created = requests.create_request(
        ctx, name="Support 2026", key_type=KeyType.P256, subject=subject
    )
    signed = _sign_request(created.view.pem, levels.intermediate)
    pem = signed.public_bytes(serialization.Encoding.PEM)

    result = import_files(
        ctx,
        [ImportFile("signed.crt", pem), *_pem_files(levels.intermediate, levels.root)],
        None,
    )

    assert result.fulfilled_requests == [created.view.id]
    request = requests.show(ctx, str(created.view.id))
    assert request.status == "fulfilled"
    view = _by_fingerprint(ctx, signed.fingerprint(hashes.SHA256()).hex())
    assert view.has_key
    assert view.name == "Support 2026"
    assert request.certificate_id == view.id


def test_renewal_for_the_same_key_attaches_to_it(ctx: Context) -> None:
    levels = three_levels()
    subject = check_subject(common_name="Support", sans=["support.example.test"])
    created = requests.create_request(
        ctx, name="Support", key_type=KeyType.P256, subject=subject
    )
    first = _sign_request(created.view.pem, levels.intermediate, days=30)
    renewal = _sign_request(created.view.pem, levels.intermediate, days=365)
    chain = _pem_files(levels.intermediate, levels.root)
    import_files(
        ctx,
        [ImportFile("a.crt", first.public_bytes(serialization.Encoding.PEM)), *chain],
        None,
    )
    import_files(
        ctx,
        [ImportFile("b.crt", renewal.public_bytes(serialization.Encoding.PEM))],
        None,
    )

    renewed = _by_fingerprint(ctx, renewal.fingerprint(hashes.SHA256()).hex())
    assert renewed.has_key
    assert renewed.name == "Support"
    assert renewed.chain_status == "complete"


def test_key_in_its_own_file_pairs_with_its_certificate(ctx: Context) -> None:
    levels = three_levels()
    import_files(
        ctx,
        [ImportFile("site.key", levels.leaf.key_pem), *_pem_files(levels.leaf)],
        None,
    )
    assert _by_fingerprint(ctx, levels.leaf.fingerprint).has_key


def test_key_imported_later_attaches_to_a_stored_certificate(ctx: Context) -> None:
    levels = three_levels()
    import_files(ctx, _pem_files(levels.leaf), None)
    assert not _by_fingerprint(ctx, levels.leaf.fingerprint).has_key
    result = import_files(ctx, [ImportFile("site.key", levels.leaf.key_pem)], None)
    assert [i.outcome for i in result.items] == ["key-attached"]
    assert _by_fingerprint(ctx, levels.leaf.fingerprint).has_key
    again = import_files(ctx, [ImportFile("site.key", levels.leaf.key_pem)], None)
    assert [i.outcome for i in again.items] == ["already-present"]


def test_a_key_that_matches_nothing_is_refused(ctx: Context) -> None:
    stray = make_leaf(make_ca("Root"), "stray.example.test")
    with pytest.raises(RejectedFile) as info:
        import_files(ctx, [ImportFile("stray.key", stray.key_pem)], None)
    assert info.value.filename == "stray.key"


def test_one_bad_file_leaves_nothing_behind(ctx: Context) -> None:
    levels = three_levels()
    before = len(certificates.list_certificates(ctx))
    with pytest.raises(RejectedFile) as info:
        import_files(
            ctx,
            [
                *_pem_files(levels.leaf, levels.intermediate),
                ImportFile("broken.crt", levels.root.pem[:200]),
            ],
            None,
        )
    assert info.value.filename == "broken.crt"
    assert len(certificates.list_certificates(ctx)) == before


def test_failure_inside_the_transaction_rolls_back(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    levels = three_levels()
    before = len(certificates.list_certificates(ctx))

    def fail(*args: object, **kwargs: object) -> None:
        raise RejectedFile("site.pem", "simulated failure after the rows were written")

    monkeypatch.setattr(importing_service._Batch, "fulfil_requests", fail)
    with pytest.raises(RejectedFile):
        import_files(
            ctx,
            [
                ImportFile("site.key", levels.leaf.key_pem),
                *_pem_files(levels.leaf, levels.intermediate, levels.root),
            ],
            None,
        )
    assert len(certificates.list_certificates(ctx)) == before


def test_wrong_and_missing_passphrase_are_told_apart(ctx: Context) -> None:
    levels = three_levels()
    p12 = pkcs12.serialize_key_and_certificates(
        b"site",
        levels.leaf.key,
        levels.leaf.cert,
        None,
        serialization.BestAvailableEncryption(b"correct horse"),
    )
    with pytest.raises(WrongPassphrase, match="give its passphrase"):
        import_files(ctx, [ImportFile("site.p12", p12)], None)
    with pytest.raises(WrongPassphrase, match="does not open"):
        import_files(ctx, [ImportFile("site.p12", p12)], b"wrong")
    result = import_files(ctx, [ImportFile("site.p12", p12)], b"correct horse")
    assert result.items[0].name == "site"  # the PKCS#12 friendly name


def test_root_is_completed_from_the_trust_store(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    levels = three_levels()
    trusted = CertificateIndex(
        [Candidate(levels.root.cert, read_facts(levels.root.cert))]
    )
    monkeypatch.setattr(importing_service, "mozilla_roots", lambda: trusted)
    import_files(ctx, _pem_files(levels.leaf, levels.intermediate), None)
    view = _by_fingerprint(ctx, levels.leaf.fingerprint)
    assert view.chain_status == "complete"
    assert view.chain[-1].source == "trust-store"
    assert any("Mozilla root store" in n for n in view.chain_notes)


def _first_mozilla_root() -> x509.Certificate:
    with open(certifi.where(), "rb") as bundle:
        block = bundle.read().split(b"-----END CERTIFICATE-----")[0]
    return x509.load_pem_x509_certificate(block + b"-----END CERTIFICATE-----\n")


def test_a_real_mozilla_root_is_recognised_as_a_root(ctx: Context) -> None:
    first = _first_mozilla_root()
    result = import_files(
        ctx,
        [ImportFile("root.crt", first.public_bytes(serialization.Encoding.DER))],
        None,
    )
    assert result.items[0].role == "root"


def test_name_match_without_signature_is_not_a_completion(ctx: Context) -> None:
    real_root = _first_mozilla_root()
    impostor = make_ca("placeholder")
    # An intermediate that names a Mozilla root as issuer but is signed by another key.
    forged = (
        x509.CertificateBuilder()
        .subject_name(x509.Name.from_rfc4514_string("CN=Forged Intermediate"))
        .issuer_name(real_root.subject)
        .public_key(impostor.key.public_key())
        .serial_number(1)
        .not_valid_before(impostor.cert.not_valid_before_utc)
        .not_valid_after(impostor.cert.not_valid_after_utc)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(impostor.key, hashes.SHA256())
    )
    leaf = make_leaf(
        Issued(forged, impostor.key, "Forged Intermediate"), "f.example.test"
    )
    import_files(
        ctx,
        [
            ImportFile(
                "f.pem", leaf.pem + forged.public_bytes(serialization.Encoding.PEM)
            )
        ],
        None,
    )
    view = _by_fingerprint(ctx, leaf.fingerprint)
    assert view.chain_status == "incomplete"
