import pytest

from certdesk.errors import Ambiguous, Conflict, InvalidInput, NotFound
from certdesk.pki.encode import ExportFormat
from certdesk.pki.keys import KeyType
from certdesk.pki.names import check_subject
from certdesk.services import audit, certificates, requests
from certdesk.services.context import Context
from certdesk.services.importing import ImportFile, import_files
from tests.conftest import FakeClock
from tests.pkitools import ThreeLevels, make_leaf, three_levels


def _self_signed(ctx: Context, name: str = "Site", days: int = 365) -> int:
    subject = check_subject(common_name="site.example.test", sans=[])
    created = certificates.create_self_signed(
        ctx, name=name, key_type=KeyType.P256, subject=subject, days=days
    )
    return created.view.id


def test_factory_default_is_the_default_and_labelled(ctx: Context) -> None:
    [factory] = certificates.list_certificates(ctx)
    assert factory.is_default
    assert factory.factory_default
    assert factory.has_key
    codes = [w.code for w in factory.warnings]
    assert "factory-default" in codes
    assert "self-signed" in codes


def test_default_cannot_be_deleted_until_another_is_chosen(ctx: Context) -> None:
    [factory] = certificates.list_certificates(ctx)
    with pytest.raises(Conflict, match="default"):
        certificates.delete(ctx, str(factory.id))
    site = _self_signed(ctx)
    certificates.set_default(ctx, str(site))
    certificates.delete(ctx, str(factory.id))
    assert [v.id for v in certificates.list_certificates(ctx)] == [site]


def test_a_certificate_without_key_cannot_be_default(ctx: Context) -> None:
    levels = three_levels()
    result = import_files(ctx, [ImportFile("leaf.pem", levels.leaf.pem)], None)
    with pytest.raises(Conflict, match="no private key"):
        certificates.set_default(ctx, str(result.items[0].id))


def test_deleting_keeps_issuers_other_certificates_still_use(ctx: Context) -> None:
    levels = three_levels()
    second = make_leaf(levels.intermediate, "two.example.test")
    import_files(
        ctx,
        [
            ImportFile("a.pem", levels.leaf.pem),
            ImportFile("b.pem", second.pem),
            ImportFile("chain.pem", levels.intermediate.pem + levels.root.pem),
        ],
        None,
    )
    by_fp = {v.facts.fingerprint_sha256: v for v in certificates.list_certificates(ctx)}
    intermediate = by_fp[levels.intermediate.fingerprint]

    with pytest.raises(Conflict, match="in the chain of"):
        certificates.delete(ctx, str(intermediate.id))

    first = certificates.delete(ctx, str(by_fp[levels.leaf.fingerprint].id))
    assert first.removed_issuers == ()
    assert certificates.show(ctx, str(intermediate.id))

    last = certificates.delete(ctx, str(by_fp[second.fingerprint].id))
    assert set(last.removed_issuers) == {
        intermediate.id,
        by_fp[levels.root.fingerprint].id,
    }


def test_refs_by_id_name_and_fingerprint(ctx: Context) -> None:
    site = _self_signed(ctx, name="Main")
    view = certificates.show(ctx, str(site))
    assert certificates.show(ctx, "Main").id == site
    assert certificates.show(ctx, view.facts.fingerprint_sha256).id == site
    _self_signed(ctx, name="Main")
    with pytest.raises(Ambiguous):
        certificates.show(ctx, "Main")
    with pytest.raises(NotFound):
        certificates.show(ctx, "nothing like it")


def test_time_moves_the_warnings(ctx: Context, clock: FakeClock) -> None:
    site = _self_signed(ctx, days=40)
    assert "expiring" not in [
        w.code for w in certificates.show(ctx, str(site)).warnings
    ]
    clock.advance(days=15)
    view = certificates.show(ctx, str(site))
    assert "expiring" in [w.code for w in view.warnings]
    assert view.days_left == 25
    clock.advance(days=30)
    assert "expired" in [w.code for w in certificates.show(ctx, str(site)).warnings]


def test_not_yet_valid_is_warned(ctx: Context, clock: FakeClock) -> None:
    levels = three_levels()
    future = make_leaf(
        levels.intermediate,
        "soon.example.test",
        not_before=clock.now.replace(year=2027),
    )
    result = import_files(ctx, [ImportFile("f.pem", future.pem)], None)
    view = certificates.show(ctx, str(result.items[0].id))
    assert "not-yet-valid" in [w.code for w in view.warnings]


def test_export_with_key_needs_a_passphrase_and_is_an_event(ctx: Context) -> None:
    site = _self_signed(ctx)
    with pytest.raises(InvalidInput, match="passphrase"):
        certificates.export(
            ctx,
            str(site),
            fmt=ExportFormat.P12,
            with_chain=False,
            with_key=True,
            passphrase=None,
        )
    with pytest.raises(InvalidInput, match="at least"):
        certificates.export(
            ctx,
            str(site),
            fmt=ExportFormat.P12,
            with_chain=False,
            with_key=True,
            passphrase=b"short",
        )
    exported = certificates.export(
        ctx,
        str(site),
        fmt=ExportFormat.P12,
        with_chain=True,
        with_key=True,
        passphrase=b"long enough pass",
    )
    assert exported.data
    [event] = audit.list_events(ctx, action="certificate.exported")
    assert event["details"]["private_key"] is True
    assert "long enough pass" not in str(event)
    # Exporting removes nothing.
    assert certificates.show(ctx, str(site)).has_key


@pytest.mark.parametrize(
    ("fmt", "chain", "key", "message"),
    [
        (ExportFormat.DER, True, False, "single certificate"),
        (ExportFormat.DER, False, True, "single certificate"),
        (ExportFormat.P7B, False, True, "cannot hold a private key"),
    ],
)
def test_formats_refuse_what_they_cannot_hold(
    ctx: Context, fmt: ExportFormat, chain: bool, key: bool, message: str
) -> None:
    site = _self_signed(ctx)
    with pytest.raises(InvalidInput, match=message):
        certificates.export(
            ctx,
            str(site),
            fmt=fmt,
            with_chain=chain,
            with_key=key,
            passphrase=b"long enough pass",
        )


def test_export_of_key_not_held_is_refused(ctx: Context) -> None:
    levels = three_levels()
    result = import_files(ctx, [ImportFile("leaf.pem", levels.leaf.pem)], None)
    with pytest.raises(InvalidInput, match="no private key"):
        certificates.export(
            ctx,
            str(result.items[0].id),
            fmt=ExportFormat.PEM,
            with_chain=False,
            with_key=True,
            passphrase=b"long enough pass",
        )


def test_deleting_a_pending_request_removes_its_key_and_records_it(
    ctx: Context,
) -> None:
    subject = check_subject(common_name="Req", sans=["req.example.test"])
    created = requests.create_request(
        ctx, name="Req", key_type=KeyType.P256, subject=subject
    )
    requests.delete(ctx, str(created.view.id))
    assert requests.list_requests(ctx) == []
    [event] = audit.list_events(ctx, action="request.deleted")
    assert event["details"]["removed_key"] is True


def test_events_name_who_what_and_which(ctx: Context) -> None:
    site = _self_signed(ctx, name="Evented")
    certificates.set_default(ctx, str(site))
    actions = [e["action"] for e in audit.list_events(ctx)]
    assert actions[:2] == ["certificate.default-set", "certificate.created"]
    latest = audit.list_events(ctx)[0]
    assert latest["actor"] == "test"
    assert latest["object_name"] == "Evented"
    assert latest["object_id"] == str(site)


def _import_served(ctx: Context, levels: ThreeLevels) -> int:
    result = import_files(
        ctx,
        [
            ImportFile("site.key", levels.leaf.key_pem),
            ImportFile("site.pem", levels.leaf.pem),
            ImportFile("chain.pem", levels.intermediate.pem + levels.root.pem),
        ],
        None,
    )
    [leaf] = [i for i in result.items if i.role == "server"]
    assert leaf.id is not None
    return leaf.id


def test_moving_the_default_to_another_root_warns(ctx: Context) -> None:
    first = _import_served(ctx, three_levels("a.example.test"))
    changed = certificates.set_default(ctx, str(first))
    assert changed.warnings == ()  # away from the factory default: nothing to lose

    same_root = three_levels("b.example.test")
    other = _import_served(ctx, same_root)
    moved = certificates.set_default(ctx, str(other))
    assert len(moved.warnings) == 1
    assert "Test Root CA" in moved.warnings[0]
    assert "trust only the old root" in moved.warnings[0]
