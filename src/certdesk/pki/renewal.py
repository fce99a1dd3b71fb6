"""When to renew a managed certificate, what state to show, which alerts are due.

Everything here is a function of its arguments: the certificate now in
service, its renewal state, the CA's renewal information (ACME ARI, RFC
9773), the policy, the time, and a random fraction in [0, 1) for jitter that
the caller draws. The scheduler that calls these keeps the state; a
successful renewal replaces `Validity` with the new certificate's.

The rules:

- Renew `renew_before` before expiry (30 days), but never earlier than a
  third of the lifetime before expiry, so a short-lived certificate (Pebble's
  five-minute ones, six-day profiles) serves two thirds of its life and a
  fresh one is never due at once. Renew earlier when the CA's renewal window
  says so, at a point inside the window chosen by the jitter fraction.
- The error point (`error_at`, 25 days) scales with the renewal lead: a
  certificate whose lead is a third of its lifetime turns to error at
  25/30 of that lead.
- After a failure, wait `backoff_base * 2**(failures - 1)` shortened by up to
  `jitter`, at most `backoff_cap`, and at most a tenth of the time left before
  expiry (never less than `min_retry`), so retries come faster as expiry
  nears instead of sleeping through it.
- A CA's Retry-After or rate-limit time is always respected, even when it
  lies beyond expiry: ordering earlier only spends more of the limit.
"""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum

DAY = dt.timedelta(days=1)


class Status(StrEnum):
    VALID = "valid"
    RENEWAL_DUE = "renewal-due"
    FAILING = "failing"
    ERROR = "error"


class AlertKind(StrEnum):
    RENEWAL_FAILED = "renewal-failed"
    EXPIRY_ERROR = "expiry-error"
    ALL_CLEAR = "all-clear"


@dataclass(frozen=True)
class Validity:
    """The validity period of the certificate now in service."""

    not_before: dt.datetime
    not_after: dt.datetime

    @property
    def lifetime(self) -> dt.timedelta:
        return self.not_after - self.not_before


@dataclass(frozen=True)
class RenewalState:
    """What the scheduler remembers between attempts.

    `failures` counts consecutive failures since the last success;
    `retry_not_before` comes from a Retry-After header or a rate-limit error
    (`rate_limited` tells which); `renewing` is set while an attempt runs.
    """

    last_attempt_at: dt.datetime | None = None
    last_success_at: dt.datetime | None = None
    failures: int = 0
    retry_not_before: dt.datetime | None = None
    last_error: str | None = None
    renewing: bool = False
    rate_limited: bool = False


@dataclass(frozen=True)
class RenewalInfo:
    """The CA's suggested renewal window (ACME ARI)."""

    window_start: dt.datetime
    window_end: dt.datetime
    explanation_url: str | None = None


@dataclass(frozen=True)
class Policy:
    renew_before: dt.timedelta = dt.timedelta(days=30)
    error_at: dt.timedelta = dt.timedelta(days=25)
    # Never renew earlier than this share of the lifetime before expiry.
    lifetime_share: float = 1 / 3
    backoff_base: dt.timedelta = dt.timedelta(minutes=5)
    backoff_cap: dt.timedelta = dt.timedelta(hours=6)
    # Waits are shortened by a random share of up to this much.
    jitter: float = 0.2
    # Near expiry a wait is at most this share of the time left ...
    near_expiry_share: float = 0.1
    # ... but never shorter than this.
    min_retry: dt.timedelta = dt.timedelta(seconds=5)
    # How long to wait before looking again at an attempt still running.
    in_progress_check: dt.timedelta = dt.timedelta(minutes=1)

    def with_lead(self, renew_before: dt.timedelta) -> "Policy":
        """This policy renewing `renew_before` ahead of expiry; the error point
        keeps its share of the lead (25 of 30 days) when the lead is shorter."""
        return replace(
            self,
            renew_before=renew_before,
            error_at=min(self.error_at, renew_before * 5 / 6),
        )

    def lead(self, validity: Validity) -> dt.timedelta:
        """How long before expiry renewal starts."""
        return min(self.renew_before, validity.lifetime * self.lifetime_share)

    def error_lead(self, validity: Validity) -> dt.timedelta:
        """How long before expiry an unrenewed certificate is an error."""
        lead = self.lead(validity)
        if lead >= self.renew_before:
            return self.error_at
        return lead * (self.error_at / self.renew_before)


@dataclass(frozen=True)
class Reason:
    """Why the next attempt is when it is: a stable code and a sentence."""

    code: str
    text: str


@dataclass(frozen=True)
class Plan:
    """What to do next for one certificate.

    `due` means an order should be placed now; otherwise the scheduler looks
    again at `next_attempt_at`, which is then later than `now`. `renew_at`
    is the renewal time without failures and `error_from` when the
    certificate turns to error if not renewed.
    """

    next_attempt_at: dt.datetime
    due: bool
    reason: Reason
    status: Status
    renew_at: dt.datetime
    error_from: dt.datetime


def renew_at(
    validity: Validity,
    policy: Policy,
    info: RenewalInfo | None,
    jitter_fraction: float,
) -> tuple[dt.datetime, Reason]:
    """The renewal time when nothing has failed, and why."""
    lead = policy.lead(validity)
    planned = validity.not_after - lead
    reason = Reason("before-expiry", f"{_span(lead)} before expiry")
    if info is not None and info.window_end > info.window_start:
        end = min(info.window_end, validity.not_after - policy.min_retry)
        start = min(info.window_start, end)
        chosen = start + (end - start) * _fraction(jitter_fraction)
        if chosen < planned:
            planned = chosen
            reason = Reason(
                "renewal-window",
                f"the CA's renewal window opens {_when(info.window_start)}"
                f" and closes {_when(info.window_end)}; renewing inside it",
            )
    return planned, reason


def status(
    validity: Validity, state: RenewalState, policy: Policy, now: dt.datetime
) -> Status:
    """Error once expired or inside the error lead; failing after a failure."""
    if now >= validity.not_after - policy.error_lead(validity):
        return Status.ERROR
    if state.failures > 0:
        return Status.FAILING
    planned = validity.not_after - policy.lead(validity)
    return Status.RENEWAL_DUE if now >= planned else Status.VALID


def plan(
    validity: Validity,
    state: RenewalState,
    policy: Policy,
    now: dt.datetime,
    *,
    info: RenewalInfo | None = None,
    jitter_fraction: float,
) -> Plan:
    """The next attempt for one certificate; see the module's rules."""
    planned, reason = renew_at(validity, policy, info, jitter_fraction)
    shown = status(validity, state, policy, now)
    error_from = validity.not_after - policy.error_lead(validity)

    if state.renewing:
        return Plan(
            now + policy.in_progress_check,
            False,
            Reason("in-progress", "a renewal is running; looking again shortly"),
            shown,
            planned,
            error_from,
        )

    next_at = planned
    if state.failures > 0 and state.last_attempt_at is not None:
        wait = backoff(validity, state, policy, jitter_fraction)
        next_at = state.last_attempt_at + wait
        reason = Reason(
            "backoff",
            f"retry {state.failures} after a failure, backing off {_span(wait)}",
        )

    if state.retry_not_before is not None and state.retry_not_before > next_at:
        next_at = state.retry_not_before
        if state.rate_limited:
            reason = Reason(
                "rate-limited", f"rate limited until {_when(state.retry_not_before)}"
            )
        else:
            reason = Reason(
                "retry-after",
                "the CA asked to wait (Retry-After) until "
                + _when(state.retry_not_before),
            )

    if now >= validity.not_after and next_at <= now:
        reason = Reason("expired", "the certificate has expired; renewing now")
    return Plan(next_at, next_at <= now, reason, shown, planned, error_from)


def backoff(
    validity: Validity,
    state: RenewalState,
    policy: Policy,
    jitter_fraction: float,
) -> dt.timedelta:
    """The wait after the latest failure: exponential, jittered, capped.

    The cap shrinks to a share of the time left at the failure, so the
    retries that could still save the certificate are not slept through;
    once it has expired, nothing is saved by hurrying and the full cap holds.
    """
    exponent = min(max(state.failures - 1, 0), 30)
    wait = policy.backoff_base * (1 << exponent)
    wait *= 1 - policy.jitter * _fraction(jitter_fraction)

    failed_at = state.last_attempt_at or validity.not_before
    left = validity.not_after - failed_at
    cap = policy.backoff_cap
    if left > dt.timedelta(0):
        cap = min(cap, left * policy.near_expiry_share)
    return max(min(wait, cap), policy.min_retry)


@dataclass(frozen=True)
class SentAlert:
    """An alert already sent for this managed certificate."""

    kind: AlertKind
    at: dt.datetime

    @property
    def day(self) -> dt.date:
        return self.at.astimezone(dt.UTC).date()


@dataclass(frozen=True)
class Alert:
    """An alert to send now, with the facts its message needs."""

    kind: AlertKind
    not_after: dt.datetime
    days_left: int
    failures: int
    last_error: str | None


_TROUBLE = (AlertKind.RENEWAL_FAILED, AlertKind.EXPIRY_ERROR)


def alerts_due(
    validity: Validity,
    state: RenewalState,
    alert_log: Iterable[SentAlert],
    policy: Policy,
    now: dt.datetime,
) -> list[Alert]:
    """Alerts to send now: those that apply and were not sent this UTC day.

    - renewal-failed: at the first failure of a streak (a streak ends with a
      success), once per streak;
    - expiry-error: every UTC day while the certificate is in error;
    - all-clear: a success after a trouble alert that no all-clear answered.

    No kind goes out twice on one UTC day (a five-minute certificate may fail
    and recover many times a day); one held back goes out the next day if it
    still applies, which `alerts_recheck_at` wakes the scheduler for.
    """
    sent = list(alert_log)
    today = now.astimezone(dt.UTC).date()
    held = {a.kind for a in sent if a.day == today}
    left = validity.not_after - now
    return [
        Alert(kind, validity.not_after, left // DAY, state.failures, state.last_error)
        for kind in _applicable(validity, state, sent, policy, now)
        if kind not in held
    ]


def _applicable(
    validity: Validity,
    state: RenewalState,
    sent: list[SentAlert],
    policy: Policy,
    now: dt.datetime,
) -> list[AlertKind]:
    """The kinds the situation calls for, before the once-a-day rule."""
    kinds: list[AlertKind] = []
    streak_start = state.last_success_at
    if state.failures > 0 and not any(
        a.kind == AlertKind.RENEWAL_FAILED
        and (streak_start is None or a.at > streak_start)
        for a in sent
    ):
        kinds.append(AlertKind.RENEWAL_FAILED)

    if status(validity, state, policy, now) is Status.ERROR:
        kinds.append(AlertKind.EXPIRY_ERROR)

    if state.failures == 0 and state.last_success_at is not None:
        last_trouble = max((a.at for a in sent if a.kind in _TROUBLE), default=None)
        last_clear = max(
            (a.at for a in sent if a.kind == AlertKind.ALL_CLEAR), default=None
        )
        if (
            last_trouble is not None
            and last_trouble <= state.last_success_at
            and (last_clear is None or last_clear < last_trouble)
        ):
            kinds.append(AlertKind.ALL_CLEAR)
    return kinds


def alerts_recheck_at(
    validity: Validity,
    state: RenewalState,
    alert_log: Iterable[SentAlert],
    policy: Policy,
    now: dt.datetime,
) -> dt.datetime:
    """When alerts may become due with no attempt in between.

    That is when the certificate turns to error, and each UTC midnight while
    it is in error or an alert is held back for the day, so a daily alert is
    never skipped by a scheduler sleeping until the next attempt.
    """
    today = now.astimezone(dt.UTC).date()
    midnight = dt.datetime.combine(today + DAY, dt.time(), dt.UTC)
    error_from = validity.not_after - policy.error_lead(validity)
    if now >= error_from:
        return midnight
    if _applicable(validity, state, list(alert_log), policy, now):
        return min(midnight, error_from)
    return error_from


def _fraction(value: float) -> float:
    return min(max(value, 0.0), 1.0)


def _when(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _span(delta: dt.timedelta) -> str:
    """A duration the way people say it: 30 days, 6 h, 20 min, 40 s."""
    seconds = int(delta.total_seconds())
    if seconds >= 2 * 86400:
        days = seconds / 86400
        return f"{days:.0f} days" if days == int(days) else f"{days:.1f} days"
    if seconds >= 3600:
        hours, rest = divmod(seconds, 3600)
        minutes = rest // 60
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if seconds >= 60:
        return f"{seconds // 60} min"
    return f"{seconds} s"
