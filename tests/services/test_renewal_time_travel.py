"""Two simulated years of the scheduler for many certificates, with failures.

`renewal.run_once` runs on a FakeClock that jumps to each pass's own next
wake, as `run_forever` would sleep. The CA is the fake at the AcmeSession
seam (tests/acme/fakeca.py): real certificates signed by a test CA on the
test's clock, so the served set is the real one. Injected: two CA outages,
names whose validation fails for 28 days from their renewal time in the
second year (error state, daily mails, then recovery), and names rate
limited once with Retry-After. Alerts go to a real SMTP server on loopback.

At every pass: no name is served an expired certificate. At the end: each
kind of alert at most once per UTC day per certificate, an expiry-error on
every UTC day a certificate was seen in error, and orders equal to issuances
plus the injected failures that happened after an order was placed.
"""

import datetime as dt
import random
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from certdesk.pki.keys import KeyType
from certdesk.pki.renewal import Policy
from certdesk.services import accounts, renewal, serving
from certdesk.services.accounts import Role
from certdesk.services.acme import ordering
from certdesk.services.acme.client import CaError, Polling
from certdesk.services.acme.directories import Directory
from certdesk.services.context import Context
from certdesk.services.mail import Security, SmtpSettings
from certdesk.store import schema
from tests.acme import fakeca
from tests.conftest import FakeClock
from tests.smtptools import smtp_server

CERTIFICATES = 200
BAD = {f"bad{i}.example.com" for i in range(3)}
LIMITED = {f"limited{i}.example.com" for i in range(3)}
YEARS = 2
OUTAGES = [(150, 152), (400, 401)]  # days from the start, CA unreachable
AFTER_ORDER = {"challenge", "validation", "finalize"}


@pytest.fixture
def engine() -> str:
    """SQLite only: two years of passes on both databases take too long."""
    return "sqlite"


def test_two_years_nothing_served_expired_alerts_once_a_day(
    ctx: Context, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    started = time.monotonic()
    start = clock.now
    ca = fakeca.FakeCa(clock)
    fakeca.install(monkeypatch, ca)
    injected: Counter[str] = Counter()
    first_bad: dict[str, dt.datetime] = {}
    limited_done: set[str] = set()

    def decide(step: str, name: str) -> CaError | None:
        day = (clock.now - start).days
        if step == "directory" and any(a <= day < b for a, b in OUTAGES):
            injected["outage"] += 1
            return CaError(step, "cannot reach the CA (timed out)", code="network")
        if step == "validation" and name in BAD and day >= 365:
            began = first_bad.setdefault(name, clock.now)
            if clock.now - began < dt.timedelta(days=28):
                injected[step] += 1
                return CaError(step, f"{name}: 404 (unauthorized)", code="unauthorized")
        if step == "order" and name in LIMITED - limited_done and day >= 500:
            limited_done.add(name)
            injected[step] += 1
            return CaError(
                step, "too many (rateLimited)", code="rateLimited", retry_after=7200
            )
        return None

    accounts.add_user(
        ctx,
        "alice",
        role=Role.ADMIN,
        email="alice@example.test",
        password="correct horse battery staple 42",
    )
    names = sorted(BAD | LIMITED) + [
        f"host{i}.example.com" for i in range(CERTIFICATES - len(BAD) - len(LIMITED))
    ]
    options = ordering.OrderOptions(
        Directory(fakeca.URL), polling=Polling(0.01, 5), preflight=None
    )
    rng = random.Random(5)
    for name in names:
        # Spread the first issuance over 60 days, as a real appliance fills up.
        clock.now = start + dt.timedelta(minutes=rng.randrange(60 * 24 * 60))
        ordering.request_certificate(ctx, [name], KeyType.P256, options)
    clock.now = start + dt.timedelta(days=60)
    ca.decide = decide

    until = start + dt.timedelta(days=365 * YEARS)
    error_days: set[tuple[int, dt.date]] = set()
    passes = 0
    with smtp_server(tmp_path) as server:
        smtp = fakeca_smtp(server.host, server.port)
        while clock.now < until:
            done = renewal.run_once(
                ctx,
                policy=Policy(),
                smtp=smtp,
                owner="time-travel",
                keep_superseded=dt.timedelta(0),
            )
            passes += 1
            assert done.errors == 0
            _check_served(ctx, names, clock.now)
            error_days |= _in_error(ctx, clock.now)
            assert done.next_wake is not None and done.next_wake > clock.now
            clock.now = min(done.next_wake, until)
        received = len(server.inbox.received)

    renewals, per_day = _alerts(ctx)
    duplicates = [key for key, count in per_day.items() if count > 1]
    assert duplicates == []
    error_sent = {(m, day) for (m, kind, day) in per_day if kind == "expiry-error"}
    assert error_days <= error_sent, sorted(error_days - error_sent)[:5]
    assert len(error_days) >= 3 * 20, "the injected failures never reached error"
    kinds = Counter(kind for (_, kind, _) in per_day)
    assert kinds["all-clear"] >= len(BAD)

    failed_after_order = sum(n for step, n in injected.items() if step in AFTER_ORDER)
    assert ca.orders == ca.issued + failed_after_order
    assert ca.issued == CERTIFICATES + renewals
    # A 90-day certificate renewed at 30 days left: about 12 in two years.
    assert renewals <= CERTIFICATES * (365 * YEARS // 60 + 1)
    elapsed = time.monotonic() - started
    print(
        f"time travel: {CERTIFICATES} certificates, {passes} passes, "
        f"{ca.orders} orders, {renewals} renewals, injected {dict(injected)}, "
        f"{sum(kinds.values())} alerts ({dict(kinds)}), {received} mails, "
        f"{len(error_days)} certificate-days in error, {elapsed:.1f} s"
    )


def fakeca_smtp(host: str, port: int) -> SmtpSettings:
    return SmtpSettings(
        host=host,
        port=port,
        security=Security.NONE,
        from_address="certdesk@appliance.test",
        timeout=5,
    )


def _check_served(ctx: Context, names: list[str], now: dt.datetime) -> None:
    served = serving.served_set(ctx)
    for name in names:
        chosen = served.choose(name, now).certificate
        assert chosen is not None and chosen.name == name, name
        assert chosen.not_before <= now < chosen.not_after, f"{name} served expired"


def _in_error(ctx: Context, now: dt.datetime) -> set[tuple[int, dt.date]]:
    with ctx.store.transaction() as session:
        rows = session.query(schema.ManagedCertificate).filter_by(state="error")
        return {(row.id, now.date()) for row in rows}


def _alerts(
    ctx: Context,
) -> tuple[int, Counter[tuple[int, str, dt.date]]]:
    """Renewals seen, and alerts sent per (managed id, kind, UTC day)."""
    owner: dict[str, int] = {}
    renewals = 0
    per_day: Counter[tuple[int, str, dt.date]] = Counter()
    with ctx.store.transaction() as session:
        found = defaultdict(list)
        for event in session.query(schema.Event).order_by(schema.Event.id):
            found[event.action].append(event)
        for event in found["acme.issued"]:
            owner[str(event.object_id)] = event.details["managed_id"]
            if event.details.get("replaced_certificate_id") is not None:
                renewals += 1
        for event in found["alert.sent"]:
            day = event.at.astimezone(dt.UTC).date()
            per_day[(owner[str(event.object_id)], event.details["kind"], day)] += 1
    return renewals, per_day
