"""The renewal rules one at a time, then as properties over random inputs."""

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from certdesk.pki.renewal import (
    Alert,
    AlertKind,
    Policy,
    RenewalInfo,
    RenewalState,
    SentAlert,
    Status,
    Validity,
    alerts_due,
    alerts_recheck_at,
    backoff,
    plan,
)
from tests.pkitools import NOW

DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
MINUTE = dt.timedelta(minutes=1)
POLICY = Policy()
# A 90-day certificate issued at NOW.
CERT = Validity(NOW, NOW + 90 * DAY)
FRESH = RenewalState()


def _failed(at: dt.datetime, failures: int = 1, **more: object) -> RenewalState:
    return RenewalState(
        last_attempt_at=at,
        failures=failures,
        last_error="urn:ietf:params:acme:error:connection: Timeout during connect",
        **more,  # type: ignore[arg-type]
    )


# -- when to renew -------------------------------------------------------------


def test_a_fresh_certificate_renews_30_days_before_expiry() -> None:
    result = plan(CERT, FRESH, POLICY, NOW, jitter_fraction=0.5)

    assert result.next_attempt_at == CERT.not_after - 30 * DAY
    assert not result.due
    assert result.status is Status.VALID
    assert result.reason.code == "before-expiry"
    assert result.reason.text == "30 days before expiry"


def test_renewal_is_due_once_the_time_has_come() -> None:
    at = CERT.not_after - 29 * DAY
    result = plan(CERT, FRESH, POLICY, at, jitter_fraction=0.5)

    assert result.due
    assert result.status is Status.RENEWAL_DUE
    assert result.next_attempt_at == CERT.not_after - 30 * DAY


@pytest.mark.parametrize(
    ("lifetime", "lead"),
    [
        (dt.timedelta(minutes=5), dt.timedelta(seconds=100)),
        (6 * DAY, 2 * DAY),
        (9 * DAY, 3 * DAY),
        (45 * DAY, 15 * DAY),
        (90 * DAY, 30 * DAY),
        (365 * DAY, 30 * DAY),
    ],
)
def test_short_lifetimes_renew_at_a_third_left(
    lifetime: dt.timedelta, lead: dt.timedelta
) -> None:
    cert = Validity(NOW, NOW + lifetime)
    result = plan(cert, FRESH, POLICY, NOW, jitter_fraction=0.0)

    assert result.renew_at == cert.not_after - lead
    assert not result.due


def test_the_error_point_scales_with_the_lead() -> None:
    five_minutes = Validity(NOW, NOW + 5 * MINUTE)
    assert POLICY.error_lead(CERT) == 25 * DAY
    assert POLICY.error_lead(five_minutes) == POLICY.lead(five_minutes) * 25 / 30


def test_an_earlier_ari_window_is_followed_inside_the_window() -> None:
    start = NOW + 40 * DAY
    info = RenewalInfo(start, start + 2 * DAY, "https://ca.example/why")

    early = plan(CERT, FRESH, POLICY, NOW, info=info, jitter_fraction=0.0)
    late = plan(CERT, FRESH, POLICY, NOW, info=info, jitter_fraction=0.75)

    assert early.next_attempt_at == start
    assert late.next_attempt_at == start + dt.timedelta(hours=36)
    assert late.reason.code == "renewal-window"
    assert "renewal window opens 2026-07-11 12:00 UTC" in late.reason.text


def test_a_later_ari_window_does_not_delay_renewal() -> None:
    start = CERT.not_after - 10 * DAY
    info = RenewalInfo(start, start + DAY)

    result = plan(CERT, FRESH, POLICY, NOW, info=info, jitter_fraction=0.5)

    assert result.next_attempt_at == CERT.not_after - 30 * DAY
    assert result.reason.code == "before-expiry"


def test_a_past_ari_window_makes_renewal_due_now() -> None:
    # What a CA publishes for a certificate it is about to revoke.
    info = RenewalInfo(NOW - 2 * DAY, NOW - DAY)
    result = plan(CERT, FRESH, POLICY, NOW + HOUR, info=info, jitter_fraction=0.3)

    assert result.due
    assert result.reason.code == "renewal-window"


def test_an_ari_window_past_expiry_is_clamped_before_it() -> None:
    info = RenewalInfo(CERT.not_after - HOUR, CERT.not_after + 5 * DAY)
    cert = Validity(NOW, NOW + 9 * DAY)
    window = RenewalInfo(cert.not_after - HOUR, cert.not_after + 5 * DAY)

    result = plan(cert, FRESH, POLICY, NOW, info=window, jitter_fraction=0.99)

    assert result.next_attempt_at < cert.not_after
    assert plan(CERT, FRESH, POLICY, NOW, info=info, jitter_fraction=1.0).due is False


# -- failures ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failures", "wait"),
    [
        (1, 5 * MINUTE),
        (2, 10 * MINUTE),
        (3, 20 * MINUTE),
        (5, 80 * MINUTE),
        (7, 320 * MINUTE),
        (8, 6 * HOUR),
        (30, 6 * HOUR),
        (10_000, 6 * HOUR),
    ],
)
def test_failures_back_off_exponentially_up_to_the_cap(
    failures: int, wait: dt.timedelta
) -> None:
    at = CERT.not_after - 29 * DAY
    result = plan(CERT, _failed(at, failures), POLICY, at, jitter_fraction=0.0)

    assert result.next_attempt_at == at + wait
    assert not result.due
    assert result.status is Status.FAILING
    assert result.reason.code == "backoff"
    assert result.reason.text.startswith(f"retry {failures} after a failure")


def test_jitter_only_shortens_the_wait() -> None:
    at = CERT.not_after - 29 * DAY
    state = _failed(at, 3)

    waits = [backoff(CERT, state, POLICY, f) for f in (0.0, 0.5, 0.999)]

    assert waits[0] == 20 * MINUTE
    assert waits[1] == 18 * MINUTE
    assert 16 * MINUTE < waits[2] < waits[1]


@pytest.mark.parametrize(
    ("left", "cap"),
    [
        (29 * DAY, 6 * HOUR),
        (2 * DAY, dt.timedelta(hours=4.8)),
        (HOUR, 6 * MINUTE),
        (dt.timedelta(seconds=20), POLICY.min_retry),
    ],
)
def test_the_cap_tightens_as_expiry_nears(
    left: dt.timedelta, cap: dt.timedelta
) -> None:
    at = CERT.not_after - left
    result = plan(CERT, _failed(at, 50), POLICY, at, jitter_fraction=0.0)

    assert result.next_attempt_at - at == cap


def test_after_expiry_the_full_cap_holds() -> None:
    at = CERT.not_after + DAY
    result = plan(CERT, _failed(at, 50), POLICY, at, jitter_fraction=0.0)

    assert result.next_attempt_at == at + 6 * HOUR
    assert result.status is Status.ERROR


def test_a_late_scheduler_retries_at_once() -> None:
    at = CERT.not_after - 29 * DAY
    result = plan(CERT, _failed(at, 1), POLICY, at + HOUR, jitter_fraction=0.0)

    assert result.due


def test_retry_after_is_respected() -> None:
    at = CERT.not_after - 29 * DAY
    state = _failed(at, 1, retry_not_before=at + 2 * HOUR)

    result = plan(CERT, state, POLICY, at, jitter_fraction=0.0)

    assert result.next_attempt_at == at + 2 * HOUR
    assert result.reason.code == "retry-after"
    assert "the CA asked to wait (Retry-After)" in result.reason.text


def test_a_rate_limit_is_respected_even_past_expiry() -> None:
    at = CERT.not_after - DAY
    until = CERT.not_after + 3 * DAY
    state = _failed(at, 4, retry_not_before=until, rate_limited=True)

    result = plan(CERT, state, POLICY, at, jitter_fraction=0.0)

    assert result.next_attempt_at == until
    assert result.reason.code == "rate-limited"
    assert result.reason.text == f"rate limited until {until:%Y-%m-%d %H:%M} UTC"


def test_a_retry_after_before_the_backoff_changes_nothing() -> None:
    at = CERT.not_after - 29 * DAY
    state = _failed(at, 3, retry_not_before=at + MINUTE)

    result = plan(CERT, state, POLICY, at, jitter_fraction=0.0)

    assert result.next_attempt_at == at + 20 * MINUTE
    assert result.reason.code == "backoff"


def test_a_running_renewal_is_not_started_twice() -> None:
    at = CERT.not_after - 20 * DAY
    state = RenewalState(last_attempt_at=at, renewing=True)

    result = plan(CERT, state, POLICY, at, jitter_fraction=0.0)

    assert not result.due
    assert result.next_attempt_at == at + POLICY.in_progress_check
    assert result.reason.code == "in-progress"


def test_an_expired_certificate_is_renewed_and_shown_as_error() -> None:
    at = CERT.not_after + HOUR
    result = plan(CERT, FRESH, POLICY, at, jitter_fraction=0.0)

    assert result.due
    assert result.status is Status.ERROR
    assert result.reason.code == "expired"


@pytest.mark.parametrize(
    ("left", "failures", "expected"),
    [
        (60 * DAY, 0, Status.VALID),
        (30 * DAY + MINUTE, 0, Status.VALID),
        (30 * DAY, 0, Status.RENEWAL_DUE),
        (26 * DAY, 0, Status.RENEWAL_DUE),
        (26 * DAY, 2, Status.FAILING),
        (25 * DAY + MINUTE, 2, Status.FAILING),
        (25 * DAY, 0, Status.ERROR),
        (3 * DAY, 9, Status.ERROR),
        (-DAY, 0, Status.ERROR),
    ],
)
def test_status(left: dt.timedelta, failures: int, expected: Status) -> None:
    at = CERT.not_after - left
    state = _failed(at, failures) if failures else FRESH

    assert plan(CERT, state, POLICY, at, jitter_fraction=0.1).status is expected


# -- alerts --------------------------------------------------------------------


def _kinds(alerts: list[Alert]) -> list[str]:
    return [str(a.kind) for a in alerts]


def test_the_first_failure_alerts_at_once_and_only_once() -> None:
    at = CERT.not_after - 29 * DAY
    first = alerts_due(CERT, _failed(at, 1), [], POLICY, at)
    log = [SentAlert(AlertKind.RENEWAL_FAILED, at)]
    second = alerts_due(CERT, _failed(at + HOUR, 2), log, POLICY, at + HOUR)

    assert _kinds(first) == ["renewal-failed"]
    assert first[0].days_left == 29
    assert first[0].last_error is not None
    assert second == []


def test_a_new_streak_after_a_success_alerts_again() -> None:
    at = CERT.not_after - 29 * DAY
    log = [
        SentAlert(AlertKind.RENEWAL_FAILED, at - 60 * DAY),
        SentAlert(AlertKind.ALL_CLEAR, at - 59 * DAY),
    ]
    state = RenewalState(last_attempt_at=at, last_success_at=at - 59 * DAY, failures=1)

    assert _kinds(alerts_due(CERT, state, log, POLICY, at)) == ["renewal-failed"]


def test_expiry_error_once_per_utc_day() -> None:
    at = dt.datetime.combine(
        (CERT.not_after - 24 * DAY).date(), dt.time(23, 50), dt.UTC
    )
    state = _failed(at - HOUR, 12)
    log = [SentAlert(AlertKind.RENEWAL_FAILED, at - 5 * DAY)]

    first = alerts_due(CERT, state, log, POLICY, at)
    log.append(SentAlert(AlertKind.EXPIRY_ERROR, at))
    same_day = alerts_due(CERT, state, log, POLICY, at + 9 * MINUTE)
    next_day = alerts_due(CERT, state, log, POLICY, at + 11 * MINUTE)

    assert _kinds(first) == ["expiry-error"]
    assert same_day == []
    assert _kinds(next_day) == ["expiry-error"]


def test_expiry_error_without_any_failure() -> None:
    # Imported with 20 days left, never attempted yet.
    at = CERT.not_after - 20 * DAY
    assert _kinds(alerts_due(CERT, FRESH, [], POLICY, at)) == ["expiry-error"]


def test_all_clear_after_recovery_once() -> None:
    failed_at = CERT.not_after - 29 * DAY
    log = [SentAlert(AlertKind.RENEWAL_FAILED, failed_at)]
    renewed = Validity(failed_at + DAY, failed_at + 91 * DAY)
    state = RenewalState(
        last_attempt_at=failed_at + DAY, last_success_at=failed_at + DAY
    )

    first = alerts_due(renewed, state, log, POLICY, failed_at + DAY)
    log.append(SentAlert(AlertKind.ALL_CLEAR, failed_at + DAY))
    again = alerts_due(renewed, state, log, POLICY, failed_at + 2 * DAY)

    assert _kinds(first) == ["all-clear"]
    assert again == []


def test_no_all_clear_without_trouble_sent() -> None:
    # The failure alert never went out (SMTP down) and the renewal succeeded.
    at = CERT.not_after - 28 * DAY
    state = RenewalState(last_attempt_at=at, last_success_at=at)
    assert alerts_due(CERT, state, [], POLICY, at) == []


def test_alerts_recheck_at_the_error_point_then_each_midnight() -> None:
    before = alerts_recheck_at(CERT, FRESH, [], POLICY, NOW)
    during = alerts_recheck_at(CERT, FRESH, [], POLICY, CERT.not_after - 20 * DAY)

    assert before == CERT.not_after - 25 * DAY
    assert during.time() == dt.time() and during.tzinfo is dt.UTC
    assert dt.timedelta(0) < during - (CERT.not_after - 20 * DAY) <= DAY


def test_a_second_streak_the_same_day_waits_for_the_next_day() -> None:
    # Short-lived certificates can fail and recover several times a day.
    at = CERT.not_after - 29 * DAY
    log = [
        SentAlert(AlertKind.RENEWAL_FAILED, at - 2 * HOUR),
        SentAlert(AlertKind.ALL_CLEAR, at - HOUR),
    ]
    state = RenewalState(last_attempt_at=at, last_success_at=at - HOUR, failures=1)
    midnight = dt.datetime.combine(at.date() + DAY, dt.time(), dt.UTC)

    assert alerts_due(CERT, state, log, POLICY, at) == []
    assert alerts_recheck_at(CERT, state, log, POLICY, at) == midnight
    assert _kinds(alerts_due(CERT, state, log, POLICY, midnight)) == ["renewal-failed"]


def test_the_error_point_comes_before_a_held_back_midnight() -> None:
    at = CERT.not_after - 25 * DAY - HOUR
    log = [SentAlert(AlertKind.RENEWAL_FAILED, at - 2 * HOUR)]
    state = RenewalState(last_attempt_at=at, last_success_at=at - HOUR, failures=1)

    assert alerts_recheck_at(CERT, state, log, POLICY, at) == at + HOUR


def test_a_held_back_all_clear_goes_out_at_midnight() -> None:
    log = [
        SentAlert(AlertKind.RENEWAL_FAILED, NOW - 3 * HOUR),
        SentAlert(AlertKind.ALL_CLEAR, NOW - 2 * HOUR),
        SentAlert(AlertKind.EXPIRY_ERROR, NOW - HOUR),
    ]
    state = RenewalState(last_attempt_at=NOW, last_success_at=NOW)
    midnight = dt.datetime.combine(NOW.date() + DAY, dt.time(), dt.UTC)

    assert alerts_due(CERT, state, log, POLICY, NOW) == []
    assert alerts_recheck_at(CERT, state, log, POLICY, NOW) == midnight
    assert _kinds(alerts_due(CERT, state, log, POLICY, midnight)) == ["all-clear"]


# -- properties ----------------------------------------------------------------

moments = st.integers(min_value=0, max_value=400 * 86400).map(
    lambda s: NOW + dt.timedelta(seconds=s)
)
lifetimes = st.sampled_from(
    [dt.timedelta(minutes=5), dt.timedelta(hours=1), 6 * DAY, 45 * DAY, 90 * DAY]
)
fractions = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)


@st.composite
def situations(draw: st.DrawFn) -> tuple[Validity, dt.datetime]:
    """A certificate and a moment between its start and a while after expiry."""
    lifetime = draw(lifetimes)
    cert = Validity(NOW, NOW + lifetime)
    offset = draw(st.floats(min_value=0.0, max_value=1.2))
    return cert, NOW + lifetime * offset


waits = st.one_of(st.none(), st.integers(min_value=-86400, max_value=30 * 86400)).map(
    lambda s: None if s is None else dt.timedelta(seconds=s)
)


@given(situations(), st.integers(1, 200), fractions, waits, st.booleans())
def test_never_a_busy_loop_after_a_failure(
    situation: tuple[Validity, dt.datetime],
    failures: int,
    jitter: float,
    retry: dt.timedelta | None,
    limited: bool,
) -> None:
    cert, now = situation
    not_before = None if retry is None else now + retry
    state = _failed(now, failures, retry_not_before=not_before, rate_limited=limited)

    result = plan(cert, state, POLICY, now, jitter_fraction=jitter)

    assert result.next_attempt_at > now
    assert not result.due
    if not_before is not None:
        assert result.next_attempt_at >= not_before


@given(situations(), st.integers(0, 200), fractions)
def test_never_past_expiry_while_renewable(
    situation: tuple[Validity, dt.datetime], failures: int, jitter: float
) -> None:
    cert, now = situation
    # Renewable: enough time left for the shortest retry to land in time.
    if cert.not_after - now <= POLICY.min_retry / POLICY.near_expiry_share:
        return
    state = _failed(now, failures) if failures else FRESH

    result = plan(cert, state, POLICY, now, jitter_fraction=jitter)

    assert result.next_attempt_at < cert.not_after


@given(situations(), st.integers(0, 50), fractions, waits, moments)
def test_retry_not_before_is_always_respected(
    situation: tuple[Validity, dt.datetime],
    failures: int,
    jitter: float,
    retry: dt.timedelta | None,
    window: dt.datetime,
) -> None:
    cert, now = situation
    not_before = None if retry is None else now + retry
    state = RenewalState(
        last_attempt_at=now - dt.timedelta(minutes=failures),
        failures=failures,
        retry_not_before=not_before,
    )
    info = RenewalInfo(window, window + DAY)

    result = plan(cert, state, POLICY, now, info=info, jitter_fraction=jitter)

    if not_before is not None and not_before > now:
        assert not result.due
        assert result.next_attempt_at >= not_before


@given(st.integers(-10 * 86400, 95 * 86400), st.integers(0, 20), fractions)
def test_error_exactly_inside_25_days_or_expired(
    left_seconds: int, failures: int, jitter: float
) -> None:
    left = dt.timedelta(seconds=left_seconds)
    now = CERT.not_after - left
    if now < CERT.not_before:
        return
    state = _failed(now, failures) if failures else FRESH

    result = plan(CERT, state, POLICY, now, jitter_fraction=jitter)

    assert (result.status is Status.ERROR) == (left <= 25 * DAY)
    alerts = alerts_due(CERT, state, [], POLICY, now)
    assert (AlertKind.EXPIRY_ERROR in {a.kind for a in alerts}) == (left <= 25 * DAY)
