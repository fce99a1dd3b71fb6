"""The scheduler's failure paths, against the fake CA at the AcmeSession seam.

Pebble cannot be made to answer a rate limit with Retry-After or to stay
unreachable for days, so `tests/acme/fakeca.py` stands in for the wire; the
accounts, order steps, store, scheduler and alert code are the real ones, and
the emails go to a real SMTP server on loopback (aiosmtpd).
"""

import datetime as dt
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certdesk.pki.keys import KeyType
from certdesk.pki.renewal import Policy
from certdesk.services import accounts, certificates, renewal
from certdesk.services.accounts import Role
from certdesk.services.acme import client, ordering
from certdesk.services.acme.client import CaError, Polling, RenewalWindow
from certdesk.services.acme.directories import Directory
from certdesk.services.context import Context
from certdesk.services.mail import Security, SmtpSettings
from certdesk.store import events, schema
from tests.acme import fakeca
from tests.conftest import FakeClock
from tests.smtptools import Server, smtp_server

POLICY = Policy()
OWNER = "test-scheduler"
UNAUTHORIZED = CaError(
    "validation",
    "www.example.com: Invalid response from http://www.example.com/.well-known/"
    "acme-challenge/abc: 404 (unauthorized)",
    code="unauthorized",
)


@pytest.fixture
def ca(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> fakeca.FakeCa:
    fake = fakeca.FakeCa(clock)
    fakeca.install(monkeypatch, fake)
    return fake


@pytest.fixture
def mailbox(tmp_path: Path) -> Iterator[Server]:
    with smtp_server(tmp_path) as server:
        yield server


def _smtp(server: Server) -> SmtpSettings:
    return SmtpSettings(
        host=server.host,
        port=server.port,
        security=Security.NONE,
        from_address="certdesk@appliance.test",
        timeout=5,
    )


def _issue(ctx: Context, name: str = "www.example.com") -> ordering.Issued:
    accounts.add_user(
        ctx,
        "alice",
        role=Role.ADMIN,
        email="alice@example.test",
        password="correct horse battery staple 42",
    )
    return ordering.request_certificate(
        ctx,
        [name],
        KeyType.P256,
        ordering.OrderOptions(
            Directory(fakeca.URL), polling=Polling(0.01, 5), preflight=None
        ),
    )


def _pass(ctx: Context, server: Server | None) -> renewal.PassResult:
    return renewal.run_once(
        ctx,
        policy=POLICY,
        smtp=_smtp(server) if server else None,
        owner=OWNER,
        keep_superseded=dt.timedelta(0),
    )


def _managed(ctx: Context) -> schema.ManagedCertificate:
    with ctx.store.transaction() as session:
        rows = session.query(schema.ManagedCertificate).all()
        assert len(rows) == 1
        return rows[0]


def _travel(
    ctx: Context, clock: FakeClock, server: Server | None, until: dt.datetime
) -> list[renewal.PassResult]:
    """Run passes the way run_forever would: at each pass's own next wake."""
    passes = []
    while clock.now < until:
        done = _pass(ctx, server)
        passes.append(done)
        assert done.next_wake is not None
        assert done.next_wake > clock.now, "a pass asked to run again at once"
        clock.now = min(done.next_wake, until)
    return passes


def _subjects(server: Server) -> list[str]:
    return [str(r.message["Subject"]) for r in server.inbox.received]


def test_nothing_is_ordered_before_the_renewal_time(
    ctx: Context, clock: FakeClock, ca: fakeca.FakeCa, mailbox: Server
) -> None:
    issued = _issue(ctx)
    done = _pass(ctx, mailbox)
    row = _managed(ctx)
    assert (done.renewed, done.failed) == (0, 0)
    assert row.state == "valid"
    assert row.next_renewal_at == issued.not_after - dt.timedelta(days=30)
    assert row.next_renewal_reason == "30 days before expiry"
    assert ca.orders == 1
    assert mailbox.inbox.received == []


def test_renewal_replaces_then_removes_the_old_certificate(
    ctx: Context, clock: FakeClock, ca: fakeca.FakeCa, mailbox: Server
) -> None:
    issued = _issue(ctx)
    clock.now = issued.not_after - dt.timedelta(days=30)
    done = renewal.run_once(ctx, policy=POLICY, smtp=_smtp(mailbox), owner=OWNER)
    row = _managed(ctx)
    assert done.renewed == 1
    assert row.certificate_id != issued.certificate_id
    assert row.superseded_certificate_id == issued.certificate_id
    assert done.next_wake == clock.now + renewal.KEEP_SUPERSEDED

    clock.advance(seconds=11)
    done = renewal.run_once(ctx, policy=POLICY, smtp=_smtp(mailbox), owner=OWNER)
    assert done.superseded_removed == 1
    with ctx.store.transaction() as session:
        assert session.get(schema.Certificate, issued.certificate_id) is None
    assert _managed(ctx).superseded_certificate_id is None
    # A success with no trouble before it sends nothing.
    assert mailbox.inbox.received == []


def test_ca_unreachable_backs_off_mails_once_and_clears_after_recovery(
    ctx: Context, clock: FakeClock, ca: fakeca.FakeCa, mailbox: Server
) -> None:
    issued = _issue(ctx)
    ca.down = True
    start = issued.not_after - dt.timedelta(days=30)
    clock.now = start

    passes = _travel(ctx, clock, mailbox, start + dt.timedelta(hours=1))
    row = _managed(ctx)
    assert row.state == "failing"
    assert "cannot reach" in (row.last_error or "")
    # 5 min, then 10, 20, 40: four failures in the first hour, never a loop.
    assert 3 <= row.failures <= 5
    assert len(passes) <= 10
    assert _subjects(mailbox) == ["certdesk: renewing www.example.com failed"]
    first = mailbox.inbox.received[0].message.get_payload(decode=True)
    assert b"cannot reach" in first

    # Backoff grows: the gaps between attempts double (less jitter).
    with ctx.store.transaction() as session:
        failed = [
            e.at for e in session.query(schema.Event).filter_by(action="acme.failed")
        ]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(failed)]
    assert all(later > earlier for earlier, later in itertools.pairwise(gaps))

    ca.down = False
    _travel(ctx, clock, mailbox, start + dt.timedelta(hours=12))
    row = _managed(ctx)
    assert row.state == "valid" and row.failures == 0 and row.last_error is None
    assert _subjects(mailbox) == [
        "certdesk: renewing www.example.com failed",
        "certdesk: www.example.com renewed, all clear",
    ]
    with ctx.store.transaction() as session:
        newest_first = events.list_events(session, _sent())
        sent = [e.details["kind"] for e in reversed(newest_first)]
    assert sent == ["renewal-failed", "all-clear"]


def _sent() -> events.EventFilter:
    return events.EventFilter(action="alert.sent")


def test_a_rate_limit_is_waited_out(
    ctx: Context, clock: FakeClock, ca: fakeca.FakeCa, mailbox: Server
) -> None:
    issued = _issue(ctx)
    ca.fail(
        "order",
        CaError(
            "order",
            "too many certificates already issued for example.com (rateLimited)",
            code="rateLimited",
            retry_after=3 * 3600,
        ),
    )
    start = issued.not_after - dt.timedelta(days=30)
    clock.now = start
    _pass(ctx, mailbox)
    row = _managed(ctx)
    assert row.rate_limited
    assert row.retry_not_before == start + dt.timedelta(hours=3)
    assert row.next_renewal_at == start + dt.timedelta(hours=3)
    assert (row.next_renewal_reason or "").startswith("rate limited until")
    orders = ca.orders

    _travel(
        ctx, clock, mailbox, start + dt.timedelta(hours=3) - dt.timedelta(seconds=1)
    )
    assert ca.orders == orders, "ordered again before the CA's Retry-After"
    _travel(ctx, clock, mailbox, start + dt.timedelta(hours=4))
    assert ca.orders == orders + 1
    assert _managed(ctx).failures == 0


def test_a_failing_challenge_turns_to_error_and_mails_once_a_day(
    ctx: Context, clock: FakeClock, ca: fakeca.FakeCa, mailbox: Server
) -> None:
    issued = _issue(ctx)
    ca.fail("validation", UNAUTHORIZED, times=10_000)
    start = issued.not_after - dt.timedelta(days=30)
    clock.now = start

    passes = _travel(ctx, clock, mailbox, issued.not_after - dt.timedelta(days=22))
    row = _managed(ctx)
    assert row.state == "error"
    assert "Invalid response" in (row.last_error or "")
    # At most one attempt per 6 h cap once backed off: bounded, not a loop.
    assert row.failures <= 8 * 4 + 8
    assert len(passes) <= 2 * row.failures + 10
    subjects = _subjects(mailbox)
    assert subjects[0] == "certdesk: renewing www.example.com failed"
    expiry = [s for s in subjects if "not renewed" in s]
    # Error from 25 days before expiry: days 25, 24, 23 (and 22 at midnight).
    assert 3 <= len(expiry) <= 4
    with ctx.store.transaction() as session:
        sent = events.list_events(session, _sent())
        days = [e.at.date() for e in sent if e.details["kind"] == "expiry-error"]
    assert len(days) == len(set(days)), "two expiry-error mails on one day"


def test_an_smtp_failure_is_recorded_and_retried(
    ctx: Context, clock: FakeClock, ca: fakeca.FakeCa, tmp_path: Path
) -> None:
    issued = _issue(ctx)
    ca.down = True
    clock.now = issued.not_after - dt.timedelta(days=30)
    with smtp_server(tmp_path) as gone:
        dead = _smtp(gone)
    done = renewal.run_once(ctx, policy=POLICY, smtp=dead, owner=OWNER)
    assert done.failed == 1 and done.alerts_failed == 1
    assert done.next_wake is not None
    assert done.next_wake <= clock.now + renewal.MAIL_RETRY

    with smtp_server(tmp_path) as server:
        clock.now = done.next_wake
        done = _pass(ctx, server)
        assert done.alerts_sent == 1
        assert _subjects(server) == ["certdesk: renewing www.example.com failed"]


def test_a_stale_renewing_mark_is_cleared(
    ctx: Context, clock: FakeClock, ca: fakeca.FakeCa
) -> None:
    _issue(ctx)
    with ctx.store.transaction() as session:
        row = session.query(schema.ManagedCertificate).one()
        row.renewing_since = clock.now - dt.timedelta(hours=1)
        row.lock_owner = "dead-worker"
        row.lock_until = clock.now - dt.timedelta(minutes=1)
    done = _pass(ctx, None)
    assert done.stale_cleared == 1
    row = _managed(ctx)
    assert row.renewing_since is None and row.lock_owner is None
    assert row.state == "valid"


def test_the_loop_sleeps_until_the_next_time_and_never_spins() -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert renewal.sleep_seconds(now, None, 60) == 60
    assert renewal.sleep_seconds(now, now + dt.timedelta(seconds=7), 60) == 7
    assert renewal.sleep_seconds(now, now - dt.timedelta(hours=1), 60) == 1


def test_the_cas_renewal_window_brings_the_renewal_forward(
    ctx: Context, clock: FakeClock, ca: fakeca.FakeCa
) -> None:
    """ARI: a CA about to revoke asks for renewal now; the scheduler obeys,
    asks no more than every few hours, and the next certificate is planned
    by its own window."""
    start, end = clock.now + dt.timedelta(days=2), clock.now + dt.timedelta(days=3)
    first_serial: list[int] = []

    def window(cert: x509.Certificate) -> RenewalWindow:
        if not first_serial or cert.serial_number == first_serial[0]:
            first_serial[:1] = [cert.serial_number]
            return RenewalWindow(start, end, "https://ca.example/incident")
        later = cert.not_valid_after_utc - dt.timedelta(days=20)
        return RenewalWindow(later, later + dt.timedelta(days=1))

    ca.window = window
    _issue(ctx)
    assert ca.orders == 1

    passes = _travel(ctx, clock, None, clock.now + dt.timedelta(days=4))

    row = _managed(ctx)
    assert ca.orders == 2
    assert row.last_success_at is not None
    assert start <= row.last_success_at <= end
    # Four days at one question every six hours, for two certificates at most.
    assert ca.windows_asked <= 4 * 4 + 2
    assert row.renewal_window_start is not None
    assert row.renewal_window_start > clock.now + dt.timedelta(days=60)
    assert len(passes) < 200


def test_a_directory_without_renewal_information_is_not_asked_per_pass(
    ctx: Context, clock: FakeClock, ca: fakeca.FakeCa
) -> None:
    _issue(ctx)
    _travel(ctx, clock, None, clock.now + dt.timedelta(days=3))
    assert ca.windows_asked == 0
    row = _managed(ctx)
    assert row.renewal_window_start is None
    assert ca.orders == 1


def test_the_renewal_information_id_is_rfc_9773s() -> None:
    """The example of RFC 9773 section 4.1: key id and serial, base64url."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ari.example")])
    key_id = bytes.fromhex("69885B6B87464041E1B37B847BA0AE2CDE01C8D4")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(0x87654321)
        .not_valid_before(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2026, 4, 1, tzinfo=dt.UTC))
        .add_extension(x509.AuthorityKeyIdentifier(key_id, None, None), critical=False)
        .sign(key, hashes.SHA256())
    )
    assert client._ari_id(cert) == "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"


def test_deleting_a_managed_certificate_stops_its_renewals(
    ctx: Context, clock: FakeClock, ca: fakeca.FakeCa
) -> None:
    issued = _issue(ctx)
    certificates.delete(ctx, str(issued.certificate_id))

    with ctx.store.transaction() as session:
        assert session.query(schema.ManagedCertificate).count() == 0
    for _ in range(4):
        clock.advance(days=30)
        done = _pass(ctx, None)
        assert done.checked == 0
        assert done.next_wake is None
    assert ca.orders == 1
