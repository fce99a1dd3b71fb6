"""Orders against a real Pebble, answered by the standalone responder.

Every test here runs on SQLite and on PostgreSQL (the `ctx` fixture).
"""

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from sqlalchemy import select

from certdesk.errors import Conflict, InvalidInput
from certdesk.pki.keys import KeyType
from certdesk.services import certificates, serving, setup
from certdesk.services.acme import ordering, revocation, status
from certdesk.services.acme.client import CaError, Polling
from certdesk.services.acme.preflight import PreflightRefused
from certdesk.services.acme.responder import answering
from certdesk.services.context import Context
from certdesk.store import acme as stored_acme
from certdesk.store import schema
from certdesk.store.datadir import DataDir
from tests.acme.conftest import options
from tests.acme.pebbletools import Pebble

UTC = dt.UTC


@pytest.fixture
def answered(ctx: Context, pebble: Pebble) -> Iterator[Context]:
    """`ctx` with this process answering HTTP-01 on Pebble's validation port."""
    with answering(ctx, "127.0.0.1", pebble.http_port) as who:
        assert who.who == "standalone"
        yield ctx


def _events(ctx: Context, prefix: str) -> list[schema.Event]:
    with ctx.store.transaction() as session:
        query = select(schema.Event).where(schema.Event.action.startswith(prefix))
        return list(session.scalars(query.order_by(schema.Event.id)))


def _real_clock(ctx: Context) -> Context:
    """Pebble issues for now; the fake clock would misdate the rows."""
    return Context(ctx.store, ctx.actor)


def test_request_stores_a_served_managed_certificate(
    answered: Context, pebble: Pebble
) -> None:
    ctx = _real_clock(answered)
    lines: list[str] = []
    issued = ordering.request_certificate(
        ctx,
        ["Shop.Example.Test", "www.shop.example.test"],
        KeyType.P256,
        options(pebble, progress=lines.append),
    )

    assert issued.identifiers == ("shop.example.test", "www.shop.example.test")
    assert [line.split(":")[0] for line in lines] == [
        "preflight",
        "account",
        "order",
        "challenge",
        "validated",
        "issued",
    ]
    with ctx.store.transaction() as session:
        row = session.get(schema.Certificate, issued.certificate_id)
        assert row is not None
        assert row.source == "acme"
        assert row.key_id is not None
        assert row.sans == ["shop.example.test", "www.shop.example.test"]
        managed = stored_acme.find_managed(session, row.id)
        assert managed is not None
        assert managed.state == "valid"
        assert managed.next_renewal_at == row.not_after - dt.timedelta(days=30)
        assert session.scalars(select(schema.AcmeChallenge)).all() == []
        cert = x509.load_der_x509_certificate(row.der)
    cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    assert cn[0].value == "shop.example.test"

    chosen = serving.served_set(ctx).choose("www.shop.example.test", ctx.now())
    assert chosen.certificate is not None
    assert chosen.certificate.id == issued.certificate_id
    actions = [e.action for e in _events(ctx, "acme.")]
    assert actions == ["acme.account_created", "acme.ordered", "acme.issued"]
    for event in _events(ctx, "acme."):
        assert "PRIVATE" not in str(event.details)


def test_ip_only_request_has_no_common_name(answered: Context, pebble: Pebble) -> None:
    """Pebble refuses an IP-only request that carries a CN; this one is issued."""
    assert ordering.request_subject(("127.0.0.1",)).common_name is None
    ctx = _real_clock(answered)
    issued = ordering.request_certificate(
        ctx, ["127.0.0.1"], KeyType.RSA2048, options(pebble)
    )
    with ctx.store.transaction() as session:
        row = session.get(schema.Certificate, issued.certificate_id)
        assert row is not None
        assert row.sans == ["127.0.0.1"]


def test_renew_replaces_the_certificate_in_service(
    answered: Context, pebble: Pebble
) -> None:
    ctx = _real_clock(answered)
    first = ordering.request_certificate(
        ctx, ["renew.example.test"], KeyType.P384, options(pebble)
    )
    certificates.set_default(ctx, str(first.certificate_id))

    second = ordering.renew(ctx, str(first.certificate_id), options(pebble))

    assert second.replaced_certificate_id == first.certificate_id
    with ctx.store.transaction() as session:
        # Kept, still servable, until every server serves its successor.
        assert session.get(schema.Certificate, first.certificate_id) is not None
        new = session.get(schema.Certificate, second.certificate_id)
        assert new is not None
        managed = stored_acme.find_managed(session, new.id)
        assert managed is not None
        assert managed.id == first.managed_id
        assert managed.lock_owner is None
        assert managed.renewing_since is None
        assert managed.superseded_certificate_id == first.certificate_id
        settings = session.get(schema.Appliance, 1)
        assert settings is not None
        assert settings.default_certificate_id == new.id
    assert second.fingerprint_sha256 != first.fingerprint_sha256

    removed = ordering.remove_superseded(ctx, first.managed_id, ctx.now())
    assert removed == first.certificate_id
    with ctx.store.transaction() as session:
        assert session.get(schema.Certificate, first.certificate_id) is None


def test_a_held_lock_refuses_a_second_renewal(
    answered: Context, pebble: Pebble
) -> None:
    ctx = _real_clock(answered)
    issued = ordering.request_certificate(
        ctx, ["locked.example.test"], KeyType.P256, options(pebble)
    )
    now = ctx.now()
    with ctx.store.transaction() as session:
        taken = stored_acme.take_lock(
            session, issued.managed_id, "other", now, now + dt.timedelta(minutes=5)
        )
        assert taken
        again = stored_acme.take_lock(
            session, issued.managed_id, "third", now, now + dt.timedelta(minutes=5)
        )
        assert not again

    with pytest.raises(Conflict, match="is being renewed by other"):
        ordering.renew(ctx, str(issued.certificate_id), options(pebble))

    # A holder that died frees the row when its lock runs out.
    with ctx.store.transaction() as session:
        managed = session.get(schema.ManagedCertificate, issued.managed_id)
        assert managed is not None
        managed.lock_until = now - dt.timedelta(seconds=1)
    renewed = ordering.renew(ctx, str(issued.certificate_id), options(pebble))
    assert renewed.replaced_certificate_id == issued.certificate_id


def test_revoke_reaches_pebble_and_stops_serving(
    answered: Context, pebble: Pebble
) -> None:
    ctx = _real_clock(answered)
    issued = ordering.request_certificate(
        ctx, ["revoked.example.test"], KeyType.P256, options(pebble)
    )

    done = revocation.revoke(
        ctx, str(issued.certificate_id), revocation.Reason.keyCompromise
    )

    reported = pebble.cert_status(done.serial)
    assert reported["Status"] == "Revoked"
    assert reported["Reason"] == 1
    chosen = serving.served_set(ctx).choose("revoked.example.test", ctx.now())
    assert chosen.certificate is None or chosen.certificate.id != issued.certificate_id
    [view] = [v for v in status.list_managed(ctx) if v.managed_id == issued.managed_id]
    assert view.state == "revoked"
    assert view.next_renewal_at is None
    with pytest.raises(Conflict, match="was revoked"):
        ordering.renew(ctx, str(issued.certificate_id), options(pebble))
    assert [e.action for e in _events(ctx, "acme.revoked")] == ["acme.revoked"]


def test_a_name_pebble_cannot_resolve_fails_with_its_words(
    answered: Context, pebble: Pebble
) -> None:
    ctx = _real_clock(answered)
    pebble.dns("/set-servfail", {"host": "broken.example.test."})
    try:
        with pytest.raises(CaError) as caught:
            ordering.request_certificate(
                ctx, ["broken.example.test"], KeyType.P256, options(pebble)
            )
    finally:
        pebble.dns("/clear-servfail", {"host": "broken.example.test."})

    assert caught.value.step == "validation"
    assert "could not resolve" in caught.value.detail
    [failed] = _events(ctx, "acme.failed")
    assert failed.details["identifiers"] == ["broken.example.test"]
    assert failed.details["error"] == caught.value.detail
    with ctx.store.transaction() as session:
        assert session.scalars(select(schema.AcmeChallenge)).all() == []
        assert session.scalars(select(schema.ManagedCertificate)).all() == []


def test_a_wrong_answer_marks_the_renewal_failing(
    ctx: Context, pebble: Pebble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another data directory's listener holds the port: it knows no token."""
    ctx = _real_clock(ctx)
    with answering(ctx, "127.0.0.1", pebble.http_port):
        issued = ordering.request_certificate(
            ctx, ["wrong.example.test"], KeyType.P256, options(pebble)
        )

    # Its own SQLite database, whichever engine `ctx` runs on.
    monkeypatch.delenv("CERTDESK_DATABASE_URL", raising=False)
    other_dir = DataDir(tmp_path / "other")
    setup.init(other_dir, "test")
    other = setup.open_store(other_dir)
    try:
        with (
            answering(Context(other, "test"), "127.0.0.1", pebble.http_port),
            pytest.raises(CaError) as caught,
        ):
            ordering.renew(
                ctx, str(issued.certificate_id), options(pebble, check=False)
            )
    finally:
        other.close()

    assert caught.value.code == "unauthorized"
    assert "404" in caught.value.detail
    [view] = status.list_managed(ctx)
    assert view.state == "failing"
    assert view.failures == 1
    assert view.last_error == caught.value.detail
    assert view.certificate_id == issued.certificate_id
    with ctx.store.transaction() as session:
        managed = session.get(schema.ManagedCertificate, issued.managed_id)
        assert managed is not None
        assert managed.lock_owner is None


def test_preflight_refuses_a_name_that_does_not_resolve(
    answered: Context, pebble: Pebble
) -> None:
    ctx = _real_clock(answered)
    with pytest.raises(PreflightRefused, match=r"nowhere\.invalid does not resolve"):
        ordering.request_certificate(
            ctx, ["nowhere.invalid"], KeyType.P256, options(pebble)
        )
    # Nothing reached the CA: no account, no order.
    assert [e.action for e in _events(ctx, "acme.")] == ["acme.failed"]


def test_preflight_refuses_when_nothing_answers(ctx: Context, pebble: Pebble) -> None:
    with pytest.raises(PreflightRefused, match="nothing answered"):
        ordering.request_certificate(
            _real_clock(ctx), ["silent.example.test"], KeyType.P256, options(pebble)
        )


def test_a_second_order_for_managed_names_is_refused(
    answered: Context, pebble: Pebble
) -> None:
    ctx = _real_clock(answered)
    issued = ordering.request_certificate(
        ctx, ["twice.example.test"], KeyType.P256, options(pebble)
    )
    with pytest.raises(Conflict, match=f"acme renew {issued.certificate_id}"):
        ordering.request_certificate(
            ctx, ["TWICE.example.test"], KeyType.P256, options(pebble)
        )


@pytest.mark.parametrize(
    ("name", "words"),
    [("*.example.test", "DNS-01"), ("localhost", "single label"), ("", "at least")],
)
def test_names_http01_cannot_prove_are_refused(name: str, words: str) -> None:
    with pytest.raises(InvalidInput, match=words):
        ordering.check_identifiers([name])


def test_polls_start_short_and_double_up_to_the_interval() -> None:
    """A fast CA is not kept waiting a whole interval; a slow one is asked
    no more often than the interval once it has made us wait."""
    polling = Polling(interval=1.0)
    assert [polling.wait(n) for n in range(7)] == [
        0.05,
        0.1,
        0.2,
        0.4,
        0.8,
        1.0,
        1.0,
    ]
