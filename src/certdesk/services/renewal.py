"""The renewal scheduler: one pass over every managed certificate, and its loop.

A pass reads each managed certificate into `pki.renewal`'s values, plans it,
writes the plan on the row (next renewal, why, state), renews what is due
through `ordering.renew` (which holds the per-certificate lock, so parallel
schedulers, one per serve worker or node, never renew one certificate twice
at once), and mails the alerts that are due. Nothing one certificate does
stops the others: a CA error is recorded on its row, an SMTP error as an
`alert.failed` event (the alert is then due again next pass), and anything
else is logged and the pass goes on.

Around that, a pass clears attempts left `renewing` by a worker that died,
and removes certificates a renewal replaced once their successor has been in
service longer than servers take to notice (`keep_superseded`).
"""

import asyncio
import contextlib
import datetime as dt
import logging
from dataclasses import dataclass, field, replace

from certdesk.errors import CertdeskError
from certdesk.pki import renewal as rules
from certdesk.pki.renewal import Plan, Policy, RenewalInfo, RenewalState, Validity
from certdesk.services import alerts, mail_settings
from certdesk.services.acme import ordering, renewal_info
from certdesk.services.acme.client import Polling
from certdesk.services.acme.directories import Directory
from certdesk.services.context import Context
from certdesk.services.mail import SmtpSettings
from certdesk.store import acme as stored_acme
from certdesk.store import schema

log = logging.getLogger(__name__)

DEFAULT_RENEW_BEFORE_DAYS = ordering.DEFAULT_RENEW_BEFORE_DAYS
# Servers poll the store every 0.5 s; a replaced certificate outlives that
# by far, so no server is left holding a snapshot that names a deleted one.
KEEP_SUPERSEDED = dt.timedelta(seconds=10)
# An attempt older than this whose lock has lapsed belonged to a dead worker.
STALE_AFTER = dt.timedelta(minutes=15)
# An all-clear that could not be mailed is retried for this long.
ALL_CLEAR_RETRY = dt.timedelta(days=1)
# An alert that could not be mailed is tried again this soon.
MAIL_RETRY = dt.timedelta(minutes=5)
# The loop never sleeps less than this, so a past-due time cannot spin it.
MIN_SLEEP = 1.0


@dataclass(frozen=True)
class Settings:
    """How the scheduler runs; `smtp` is the relay from the configuration."""

    check_seconds: float = 60.0
    policy: Policy = field(default_factory=Policy)
    reuse_key: bool = False
    polling: Polling = field(default_factory=Polling)
    smtp: SmtpSettings | None = None
    keep_superseded: dt.timedelta = KEEP_SUPERSEDED
    stale_after: dt.timedelta = STALE_AFTER


def policy_for_days(days: float) -> Policy:
    """The default policy with a renewal lead of `days`; error at 25/30 of it."""
    return Policy().with_lead(dt.timedelta(days=days))


@dataclass
class PassResult:
    """What one pass did, and when the next one is needed."""

    checked: int = 0
    renewed: int = 0
    failed: int = 0
    busy: int = 0
    alerts_sent: int = 0
    alerts_failed: int = 0
    superseded_removed: int = 0
    stale_cleared: int = 0
    errors: int = 0
    next_wake: dt.datetime | None = None

    def wake(self, at: dt.datetime) -> None:
        if self.next_wake is None or at < self.next_wake:
            self.next_wake = at


@dataclass(frozen=True)
class _Item:
    """One managed certificate as a pass sees it."""

    managed_id: int
    certificate_id: int
    name: str
    identifiers: tuple[str, ...]
    revoked: bool
    renew_before_days: int
    jitter: float
    validity: Validity
    state: RenewalState
    info: RenewalInfo | None
    created_at: dt.datetime
    superseded_id: int | None
    superseded_at: dt.datetime | None
    shown: tuple[str, dt.datetime | None, str | None]
    directory_url: str = ""
    info_next_check: dt.datetime | None = None


def run_once(
    ctx: Context,
    *,
    policy: Policy,
    smtp: SmtpSettings | None,
    owner: str,
    now: dt.datetime | None = None,
    reuse_key: bool = False,
    polling: Polling | None = None,
    keep_superseded: dt.timedelta = KEEP_SUPERSEDED,
    stale_after: dt.timedelta = STALE_AFTER,
) -> PassResult:
    """Plan, renew and alert for every managed certificate, once."""
    now = now or ctx.now()
    result = PassResult()

    with ctx.store.transaction() as session:
        result.stale_cleared = stored_acme.clear_stale(session, now - stale_after, now)
    if result.stale_cleared:
        log.warning(
            "cleared renewals left running by a stopped worker",
            extra={"count": result.stale_cleared},
        )

    for item in _read(ctx):
        result.checked += 1
        try:
            renewed = _one(
                ctx, item, policy, smtp, owner, now, reuse_key, polling, result
            )
            if renewed or item.superseded_id is not None:
                _tidy(ctx, item, now, keep_superseded, result)
        except Exception:
            result.errors += 1
            log.exception(
                "renewal pass failed for one certificate; going on with the others",
                extra={"cert_id": item.certificate_id, "cert": item.name},
            )
            result.wake(now + policy.in_progress_check)
    return result


def _one(
    ctx: Context,
    item: _Item,
    policy: Policy,
    smtp: SmtpSettings | None,
    owner: str,
    now: dt.datetime,
    reuse_key: bool,
    polling: Polling | None,
    result: PassResult,
) -> bool:
    """Plan one certificate, renew it if due, then send its alerts.

    True when an order was attempted (a renewal may have superseded one).
    """
    if item.revoked:
        return False
    item = _with_window(ctx, item, now, polling, result)
    mine = _policy(policy, item)
    plan = _plan(item, mine, now)

    attempted = False
    if plan.due:
        attempted = _attempt(ctx, item, owner, reuse_key, polling, result)
        refreshed = _reread(ctx, item.managed_id)
        if refreshed is None:
            return attempted  # deleted or revoked meanwhile: no alerts
        had_trouble = item.state.failures > 0
        now = ctx.now() if attempted else now
        item = _with_window(ctx, refreshed, now, polling, result)
        plan = _plan(item, mine, now)
        trouble_possible = had_trouble or item.state.failures > 0
    else:
        trouble_possible = item.state.failures > 0

    _write_plan(ctx, item, plan)
    result.wake(plan.next_attempt_at)

    if _alerts_may_be_due(item, plan, now, trouble_possible):
        _alert(ctx, item, mine, plan, smtp, now, result)
    log_recheck = rules.alerts_recheck_at(item.validity, item.state, [], mine, now)
    result.wake(log_recheck)
    return attempted


def _with_window(
    ctx: Context,
    item: _Item,
    now: dt.datetime,
    polling: Polling | None,
    result: PassResult,
) -> _Item:
    """The item with the CA's renewal window, asked for when it is time to."""
    if renewal_info.due(item.directory_url, item.info_next_check, now):
        checked = renewal_info.refresh(ctx, item.managed_id, now, polling or Polling())
        if checked is not None:
            item = replace(
                item, info=checked.info, info_next_check=checked.next_check_at
            )
    if item.info_next_check is not None and item.info_next_check > now:
        result.wake(item.info_next_check)
    return item


def _attempt(
    ctx: Context,
    item: _Item,
    owner: str,
    reuse_key: bool,
    polling: Polling | None,
    result: PassResult,
) -> bool:
    """Renew through the same path as `acme renew`; True if an order ran."""
    options = ordering.OrderOptions(
        Directory(""),  # ignored: a renewal uses its own account's directory
        polling=polling or Polling(),
        # The CA is the judge of a renewal; the pre-flight's fetch through the
        # public name often fails from inside (NAT without hairpinning).
        preflight=None,
    )
    try:
        ordering.renew(
            ctx, str(item.certificate_id), options, owner=owner, reuse_key=reuse_key
        )
    except ordering.RenewalBusy:
        result.busy += 1
        return False
    except CertdeskError as exc:
        # Recorded on the row and as acme.failed by the order itself.
        result.failed += 1
        log.warning(
            "renewal failed",
            extra={
                "cert_id": item.certificate_id,
                "cert": item.name,
                "error": str(exc),
            },
        )
        return True
    result.renewed += 1
    return True


def _alerts_may_be_due(
    item: _Item, plan: Plan, now: dt.datetime, trouble_possible: bool
) -> bool:
    """Whether reading the alert log can find anything to send.

    Trouble alerts need a failure or the error state; an all-clear follows a
    success, and one that could not be mailed is retried for a day.
    """
    if trouble_possible or plan.status is rules.Status.ERROR:
        return True
    success = item.state.last_success_at
    return success is not None and now - success <= ALL_CLEAR_RETRY


def _alert(
    ctx: Context,
    item: _Item,
    policy: Policy,
    plan: Plan,
    smtp: SmtpSettings | None,
    now: dt.datetime,
    result: PassResult,
) -> None:
    with ctx.store.transaction() as session:
        earlier = stored_acme.predecessor_of(session, item.certificate_id)
    ids = [item.certificate_id] + ([earlier] if earlier is not None else [])
    log_ = alerts.sent_alerts(ctx, ids, item.created_at)
    due = rules.alerts_due(item.validity, item.state, log_, policy, now)
    if not due:
        return
    about = alerts.AlertSubject(
        item.certificate_id, item.name, item.identifiers, plan.next_attempt_at
    )
    for delivery in alerts.deliver(ctx, smtp, about, due):
        if delivery.sent:
            result.alerts_sent += 1
            continue
        result.alerts_failed += 1
        # Due again: look soon rather than at the next planned time.
        result.wake(now + MAIL_RETRY)


def _tidy(
    ctx: Context,
    item: _Item,
    now: dt.datetime,
    keep: dt.timedelta,
    result: PassResult,
) -> None:
    """Remove the replaced certificate once its successor has been served."""
    fresh = _reread(ctx, item.managed_id, include_revoked=True)
    if fresh is None or fresh.superseded_id is None or fresh.superseded_at is None:
        return
    if now - fresh.superseded_at < keep:
        result.wake(fresh.superseded_at + keep)
        return
    if ordering.remove_superseded(ctx, item.managed_id, now) is not None:
        result.superseded_removed += 1


def _policy(policy: Policy, item: _Item) -> Policy:
    """A lead requested for this certificate wins over the configured one."""
    if item.renew_before_days == DEFAULT_RENEW_BEFORE_DAYS:
        return policy
    return policy.with_lead(dt.timedelta(days=item.renew_before_days))


def _plan(item: _Item, policy: Policy, now: dt.datetime) -> Plan:
    return rules.plan(
        item.validity,
        item.state,
        policy,
        now,
        info=item.info,
        jitter_fraction=item.jitter,
    )


def _state_word(item: _Item, plan: Plan) -> str:
    if item.revoked:
        return "revoked"
    if item.state.renewing:
        return "renewing"
    return plan.status.value


def _write_plan(ctx: Context, item: _Item, plan: Plan) -> None:
    """Put the plan on the row, only when it changed (most passes change none)."""
    shown = (_state_word(item, plan), plan.next_attempt_at, plan.reason.text)
    if shown == item.shown:
        return
    with ctx.store.transaction() as session:
        row = session.get(schema.ManagedCertificate, item.managed_id)
        if row is None or row.state == "revoked":
            return
        row.state, row.next_renewal_at, row.next_renewal_reason = shown


def _read(ctx: Context) -> list[_Item]:
    with ctx.store.transaction() as session:
        directories = stored_acme.directory_urls(session)
        return [
            _item(m, c, directories.get(m.account_id, ""))
            for m, c in stored_acme.list_managed(session)
        ]


def _reread(
    ctx: Context, managed_id: int, *, include_revoked: bool = False
) -> _Item | None:
    with ctx.store.transaction() as session:
        managed = session.get(schema.ManagedCertificate, managed_id)
        if managed is None:
            return None
        cert = session.get(schema.Certificate, managed.certificate_id)
        if cert is None:
            return None
        account = session.get(schema.AcmeAccount, managed.account_id)
        item = _item(managed, cert, account.directory_url if account else "")
    if item.revoked and not include_revoked:
        return None
    return item


def _item(
    managed: schema.ManagedCertificate, cert: schema.Certificate, directory_url: str
) -> _Item:
    info = None
    if managed.renewal_window_start and managed.renewal_window_end:
        info = RenewalInfo(
            managed.renewal_window_start,
            managed.renewal_window_end,
            managed.renewal_explanation_url,
        )
    return _Item(
        managed_id=managed.id,
        certificate_id=cert.id,
        name=cert.name,
        identifiers=tuple(managed.identifiers),
        revoked=managed.state == "revoked",
        renew_before_days=managed.renew_before_days,
        jitter=managed.jitter_fraction,
        validity=Validity(cert.not_before, cert.not_after),
        state=RenewalState(
            last_attempt_at=managed.last_attempt_at,
            last_success_at=managed.last_success_at,
            failures=managed.failures,
            retry_not_before=managed.retry_not_before,
            last_error=managed.last_error,
            renewing=managed.renewing_since is not None,
            rate_limited=managed.rate_limited,
        ),
        info=info,
        created_at=managed.created_at,
        superseded_id=managed.superseded_certificate_id,
        superseded_at=managed.superseded_at,
        shown=(managed.state, managed.next_renewal_at, managed.next_renewal_reason),
        directory_url=directory_url,
        info_next_check=managed.renewal_info_next_check_at,
    )


async def run_forever(ctx: Context, settings: Settings, stop: asyncio.Event) -> None:
    """Run a pass every `check_seconds`, or sooner when one is due; until `stop`.

    Passes run in a thread (they talk to the CA and the mail relay). The
    sleep is never shorter than `MIN_SLEEP`, so a time already past cannot
    make the loop spin; a failed pass is logged once and the loop goes on.
    """
    owner = ordering.lock_owner()
    while not stop.is_set():
        wake: dt.datetime | None = None
        try:
            done = await asyncio.to_thread(
                run_once,
                ctx,
                policy=settings.policy,
                smtp=smtp_for(ctx, settings.smtp),
                owner=owner,
                reuse_key=settings.reuse_key,
                polling=settings.polling,
                keep_superseded=settings.keep_superseded,
                stale_after=settings.stale_after,
            )
            wake = done.next_wake
            if done.renewed or done.failed or done.superseded_removed:
                log.info(
                    "renewal pass",
                    extra={
                        "renewed": done.renewed,
                        "failed": done.failed,
                        "alerts_sent": done.alerts_sent,
                        "superseded_removed": done.superseded_removed,
                    },
                )
        except Exception:
            log.exception("renewal pass failed; trying again at the next check")
        delay = sleep_seconds(ctx.now(), wake, settings.check_seconds)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)


def sleep_seconds(
    now: dt.datetime, wake: dt.datetime | None, check_seconds: float
) -> float:
    """Until the earliest planned time, at most `check_seconds`, at least 1 s."""
    delay = check_seconds
    if wake is not None:
        delay = min(delay, (wake - now).total_seconds())
    return max(delay, MIN_SLEEP)


def smtp_for(ctx: Context, configured: SmtpSettings | None) -> SmtpSettings | None:
    """The relay alerts go through, read each pass so a change in the web
    interface applies without a restart: that one, else the file's."""
    return mail_settings.effective(ctx, configured)
