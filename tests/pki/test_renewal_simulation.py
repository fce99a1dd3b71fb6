"""Time travel: hundreds of certificates, two simulated years, a CA that fails.

A seeded fake issuer fails a share of orders (single failures, bursts, rate
limits with a time to wait, Retry-After, outages of several days for everyone
and misconfigurations of one certificate for days). The clock only ever jumps
to the times the plan or the alert recheck asks for, as the scheduler will.
Orders take a while, and the scheduler may look at a certificate while its
order runs, so the `renewing` flag is exercised too.
"""

import datetime as dt
import heapq
import random
from collections import Counter
from dataclasses import dataclass, field, replace

import pytest

from certdesk.pki.renewal import (
    AlertKind,
    Policy,
    RenewalState,
    SentAlert,
    Validity,
    alerts_due,
    alerts_recheck_at,
    plan,
)
from tests.pkitools import NOW

DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
MINUTE = dt.timedelta(minutes=1)
POLICY = Policy()


@dataclass(frozen=True)
class Profile:
    """One kind of CA and the certificates it issues."""

    name: str
    lifetime: dt.timedelta
    failure_rate: float
    burst: tuple[int, int]
    outage: tuple[dt.timedelta, dt.timedelta]
    outage_every: dt.timedelta
    misconfig: tuple[dt.timedelta, dt.timedelta]
    rate_limit: tuple[dt.timedelta, dt.timedelta]
    retry_after: tuple[dt.timedelta, dt.timedelta]
    order_time: tuple[dt.timedelta, dt.timedelta]


PUBLIC = Profile(
    "public CA, 90 days",
    90 * DAY,
    failure_rate=0.1,
    burst=(2, 15),
    outage=(2 * DAY, 6 * DAY),
    outage_every=120 * DAY,
    misconfig=(3 * DAY, 12 * DAY),
    rate_limit=(HOUR, 3 * DAY),
    retry_after=(MINUTE, 2 * HOUR),
    order_time=(dt.timedelta(seconds=20), 3 * MINUTE),
)
# A six-day certificate cannot outlive a CA outage of several days, whatever
# the policy: its CA here is an internal one whose outages last hours.
INTERNAL = replace(
    PUBLIC,
    name="internal CA, 6 days",
    lifetime=6 * DAY,
    outage=(HOUR, 12 * HOUR),
    outage_every=30 * DAY,
    misconfig=(2 * HOUR, 10 * HOUR),
    rate_limit=(10 * MINUTE, 3 * HOUR),
)
# Pebble's short-validity setting: five-minute certificates.
PEBBLE = replace(
    PUBLIC,
    name="Pebble, 5 minutes",
    lifetime=5 * MINUTE,
    burst=(2, 4),
    outage=(dt.timedelta(seconds=10), dt.timedelta(seconds=40)),
    outage_every=2 * HOUR,
    misconfig=(dt.timedelta(seconds=5), dt.timedelta(seconds=30)),
    rate_limit=(dt.timedelta(seconds=1), dt.timedelta(seconds=10)),
    retry_after=(dt.timedelta(seconds=1), dt.timedelta(seconds=5)),
    order_time=(dt.timedelta(seconds=0.2), dt.timedelta(seconds=2)),
)


def _between(
    rng: random.Random, span: tuple[dt.timedelta, dt.timedelta]
) -> dt.timedelta:
    low, high = span
    return low + (high - low) * rng.random()


def _spans(
    rng: random.Random,
    start: dt.datetime,
    end: dt.datetime,
    every: dt.timedelta,
    length: tuple[dt.timedelta, dt.timedelta],
) -> list[tuple[dt.datetime, dt.datetime]]:
    spans = []
    at = start + every * rng.random()
    while at < end:
        spans.append((at, at + _between(rng, length)))
        at += every * (0.5 + rng.random())
    return spans


@dataclass
class Outcome:
    ok: bool
    error: str | None = None
    retry_not_before: dt.datetime | None = None
    rate_limited: bool = False


class FakeIssuer:
    """Decides each order's fate from a seeded generator; counts what it did."""

    def __init__(
        self, profile: Profile, rng: random.Random, start: dt.datetime, end: dt.datetime
    ) -> None:
        self.profile = profile
        self.rng = rng
        self.outages = _spans(rng, start, end, profile.outage_every, profile.outage)
        self.orders = 0
        self.successes = 0
        self.failures = 0
        self.bursts: dict[int, int] = {}
        self.misconfigs: dict[int, list[tuple[dt.datetime, dt.datetime]]] = {}

    def add_certificate(
        self, cert_id: int, start: dt.datetime, end: dt.datetime
    ) -> None:
        every = self.profile.outage_every * 3
        self.misconfigs[cert_id] = _spans(
            self.rng, start, end, every, self.profile.misconfig
        )

    def order(self, cert_id: int, at: dt.datetime) -> Outcome:
        self.orders += 1
        outcome = self._decide(cert_id, at)
        if outcome.ok:
            self.successes += 1
        else:
            self.failures += 1
        return outcome

    def _decide(self, cert_id: int, at: dt.datetime) -> Outcome:
        p, rng = self.profile, self.rng
        if any(s <= at < e for s, e in self.outages):
            return Outcome(False, "connection refused: the CA is down")
        if any(s <= at < e for s, e in self.misconfigs[cert_id]):
            return Outcome(False, "urn:ietf:params:acme:error:dns: NXDOMAIN")
        if self.bursts.get(cert_id, 0) > 0:
            self.bursts[cert_id] -= 1
            return Outcome(False, "urn:ietf:params:acme:error:connection: timeout")
        if rng.random() >= p.failure_rate:
            return Outcome(True)
        roll = rng.random()
        if roll < 0.2:
            until = at + _between(rng, p.rate_limit)
            return Outcome(False, "rateLimited: too many orders", until, True)
        if roll < 0.4:
            return Outcome(False, "serverInternal", at + _between(rng, p.retry_after))
        if roll < 0.6:
            self.bursts[cert_id] = rng.randint(*p.burst) - 1
        return Outcome(False, "urn:ietf:params:acme:error:unauthorized: 404")


@dataclass
class Managed:
    """One certificate as the scheduler sees it, plus what the test watches."""

    id: int
    validity: Validity
    state: RenewalState
    jitter: float
    log: list[SentAlert] = field(default_factory=list)
    wake_version: int = 0
    # (from, until) spans in error, computed independently of the code.
    error_spans: list[tuple[dt.datetime, dt.datetime]] = field(default_factory=list)
    # Failure streaks as [first failure, success or None].
    streaks: list[list[dt.datetime | None]] = field(default_factory=list)
    recoveries: list[dt.datetime] = field(default_factory=list)
    successes: list[dt.datetime] = field(default_factory=list)
    tightest: dt.timedelta = dt.timedelta.max


def _independent_error_from(validity: Validity) -> dt.datetime:
    lifetime = validity.lifetime
    lead = min(30 * DAY, lifetime / 3)
    return validity.not_after - (25 * DAY if lead == 30 * DAY else lead * 25 / 30)


@dataclass
class Result:
    certificates: list[Managed]
    issuer: FakeIssuer
    end: dt.datetime
    wakes: int


def simulate(
    profile: Profile, count: int, span: dt.timedelta, seed: int, late: int = 0
) -> Result:
    """Run the scheduler's loop; `late` certificates start already in error."""
    rng = random.Random(seed)
    start, end = NOW, NOW + span
    issuer = FakeIssuer(profile, rng, start, end)
    certs = []
    for cert_id in range(count):
        if cert_id < late:
            age = profile.lifetime * (0.75 + 0.2 * rng.random())
        else:
            age = profile.lifetime * 0.66 * rng.random()
        validity = Validity(start - age, start - age + profile.lifetime)
        certs.append(Managed(cert_id, validity, RenewalState(), rng.random()))
        issuer.add_certificate(cert_id, start, end)

    # (time, sequence, kind, cert id, version); kind "wake" or "done".
    queue: list[tuple[dt.datetime, int, str, int, int]] = []
    sequence = 0
    running: dict[int, dt.datetime] = {}

    def schedule(cert: Managed, at: dt.datetime, kind: str = "wake") -> None:
        nonlocal sequence
        sequence += 1
        if kind == "wake":
            cert.wake_version += 1
        heapq.heappush(queue, (at, sequence, kind, cert.id, cert.wake_version))

    for cert in certs:
        schedule(cert, start)

    wakes = 0
    while queue:
        now, _, kind, cert_id, version = heapq.heappop(queue)
        if now >= end:
            break
        cert = certs[cert_id]
        assert now < cert.validity.not_after, f"certificate {cert_id} expired"

        if kind == "done":
            _finish(cert, issuer, now, running.pop(cert_id))
            cert.jitter = rng.random()
        elif version != cert.wake_version:
            continue
        wakes += 1

        decided = plan(
            cert.validity, cert.state, POLICY, now, jitter_fraction=cert.jitter
        )
        if decided.due:
            assert cert_id not in running, "a second order while one runs"
            cert.state = replace(cert.state, renewing=True, last_attempt_at=now)
            running[cert_id] = now
            schedule(cert, now + _between(rng, profile.order_time), "done")
            decided = plan(
                cert.validity, cert.state, POLICY, now, jitter_fraction=cert.jitter
            )

        for alert in alerts_due(cert.validity, cert.state, cert.log, POLICY, now):
            cert.log.append(SentAlert(alert.kind, now))

        following = min(
            decided.next_attempt_at,
            alerts_recheck_at(cert.validity, cert.state, cert.log, POLICY, now),
        )
        assert following > now, "the scheduler would spin"
        schedule(cert, following)

    for cert in certs:
        assert end < cert.validity.not_after, f"certificate {cert.id} lapsed at the end"
        _close_error_span(cert, end)
    return Result(certs, issuer, end, wakes)


def _finish(
    cert: Managed, issuer: FakeIssuer, now: dt.datetime, started: dt.datetime
) -> None:
    outcome = issuer.order(cert.id, started)
    old = cert.state
    if outcome.ok:
        if old.failures:
            cert.streaks[-1][1] = now
        if _trouble_unanswered(cert.log):
            cert.recoveries.append(now)
        cert.tightest = min(cert.tightest, cert.validity.not_after - now)
        _close_error_span(cert, now)
        lifetime = cert.validity.lifetime
        cert.validity = Validity(now, now + lifetime)
        cert.successes.append(now)
        cert.state = RenewalState(last_attempt_at=now, last_success_at=now)
        return
    if old.failures == 0:
        cert.streaks.append([now, None])
    cert.state = RenewalState(
        last_attempt_at=now,
        last_success_at=old.last_success_at,
        failures=old.failures + 1,
        retry_not_before=outcome.retry_not_before,
        last_error=outcome.error,
        rate_limited=outcome.rate_limited,
    )


def _trouble_unanswered(log: list[SentAlert]) -> bool:
    """A trouble alert went out after the last all-clear (or with none yet)."""
    trouble = [a.at for a in log if a.kind != AlertKind.ALL_CLEAR]
    cleared = [a.at for a in log if a.kind == AlertKind.ALL_CLEAR]
    return bool(trouble) and (not cleared or max(cleared) < max(trouble))


def _midnight_after(at: dt.datetime) -> dt.datetime:
    return dt.datetime.combine(at.date() + DAY, dt.time(), dt.UTC)


def _close_error_span(cert: Managed, until: dt.datetime) -> None:
    error_from = _independent_error_from(cert.validity)
    if error_from < until:
        cert.error_spans.append((error_from, until))


def _days(spans: list[tuple[dt.datetime, dt.datetime]], first: dt.date) -> set[dt.date]:
    days: set[dt.date] = set()
    for begin, until in spans:
        day = max(begin.date(), first)
        while dt.datetime.combine(day, dt.time(), dt.UTC) < until:
            days.add(day)
            day += DAY
    return days


SCENARIOS = [
    pytest.param(
        [(PUBLIC, 300, 730 * DAY, 7, 6), (INTERNAL, 40, 730 * DAY, 11, 0)],
        id="two-years",
    ),
    pytest.param([(PEBBLE, 10, 2 * DAY, 5, 0)], id="pebble-5-minutes"),
]


@pytest.mark.parametrize("runs", SCENARIOS)
def test_no_certificate_ever_lapses_and_alerts_come_as_promised(
    runs: list[tuple[Profile, int, dt.timedelta, int, int]],
) -> None:
    for profile, count, span, seed, late in runs:
        result = simulate(profile, count, span, seed, late)
        _check(profile, result)
        _report(profile, result)


def _check(profile: Profile, result: Result) -> None:
    issuer = result.issuer
    assert issuer.failures > 0 and issuer.successes > 0
    # Every order is a success or a failure the issuer injected: none extra.
    assert issuer.orders == issuer.successes + issuer.failures

    lead = min(30 * DAY, profile.lifetime / 3)
    for cert in result.certificates:
        sent = Counter((a.kind, a.day) for a in cert.log)
        assert max(sent.values(), default=1) == 1, "an alert twice in one day"

        _check_failure_alerts(cert)
        _check_all_clears(cert, result.end)

        errors = {a.day for a in cert.log if a.kind == AlertKind.EXPIRY_ERROR}
        assert errors == _days(cert.error_spans, NOW.date()), "daily error alerts"

        # No duplicate orders: a certificate is renewed only once it is due.
        for earlier, later in zip(cert.successes, cert.successes[1:], strict=False):
            assert later - earlier >= profile.lifetime - lead


def _check_failure_alerts(cert: Managed) -> None:
    """One renewal-failed per streak, at its start unless the day had one."""
    failed = [a.at for a in cert.log if a.kind == AlertKind.RENEWAL_FAILED]
    for begin, until in cert.streaks:
        assert begin is not None
        inside = [t for t in failed if begin <= t and (until is None or t < until)]
        assert len(inside) <= 1, "two renewal-failed alerts in one streak"
        earlier_that_day = [t for t in failed if t < begin and t.date() == begin.date()]
        if not earlier_that_day:
            assert inside == [begin], "renewal-failed not sent at the first failure"
        elif until is None or until > _midnight_after(begin):
            assert inside, "a held-back renewal-failed never went out"
    in_a_streak = sum(
        any(b is not None and b <= t and (u is None or t < u) for b, u in cert.streaks)
        for t in failed
    )
    assert in_a_streak == len(failed), "renewal-failed outside a failure streak"


def _check_all_clears(cert: Managed, end: dt.datetime) -> None:
    """An all-clear answers a trouble alert, at the recovery or next midnight."""
    pending = False
    for alert in sorted(cert.log, key=lambda a: a.at):
        if alert.kind == AlertKind.ALL_CLEAR:
            assert pending, "an all-clear with nothing to clear"
            assert alert.at in cert.recoveries or alert.at.time() == dt.time()
            pending = False
        else:
            pending = True
    cleared = [a.at for a in cert.log if a.kind == AlertKind.ALL_CLEAR]
    trouble = [a.at for a in cert.log if a.kind != AlertKind.ALL_CLEAR]
    starts = [b for b, _ in cert.streaks if b is not None]
    for recovered in cert.recoveries:
        midnight = _midnight_after(recovered)
        answered = recovered in cleared or midnight in cleared
        interrupted = any(recovered < t <= midnight for t in trouble + starts)
        assert answered or interrupted or midnight >= end, (
            f"no all-clear after {recovered}"
        )


def _report(profile: Profile, result: Result) -> None:
    alerts = Counter(a.kind.value for c in result.certificates for a in c.log)
    tightest = min(c.tightest for c in result.certificates)
    issuer = result.issuer
    print(
        f"\n{profile.name}: {len(result.certificates)} certificates,"
        f" {issuer.orders} orders ({issuer.successes} issued,"
        f" {issuer.failures} failures injected), {result.wakes} wakes,"
        f" alerts {dict(alerts)}, tightest margin {tightest}"
    )
