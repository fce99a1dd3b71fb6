"""Alert emails about managed certificates, and the trail of what was sent.

`pki.renewal.alerts_due` decides which alerts are due; this module writes
them for people and mails each to every enabled administrator with an email
address, one message per person (no one sees the others' addresses). Every
delivered alert is an `alert.sent` event and every failed one `alert.failed`;
those events are also the alert log the next decision reads
(`sent_alerts`), so an alert that could not be sent is simply due again on
the scheduler's next run.
"""

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from certdesk.pki.renewal import Alert, AlertKind, SentAlert
from certdesk.services import mail
from certdesk.services.accounts import Role, list_users
from certdesk.services.context import Context
from certdesk.store import events, schema

log = logging.getLogger(__name__)

SENT = "alert.sent"
FAILED = "alert.failed"


@dataclass(frozen=True)
class AlertSubject:
    """The certificate an alert is about, as the message names it."""

    certificate_id: int
    name: str
    sans: tuple[str, ...]
    next_attempt_at: dt.datetime | None = None


@dataclass(frozen=True)
class Delivery:
    """What became of one alert."""

    alert: Alert
    sent: bool
    recipients: int
    error: str | None = None


def recipients(ctx: Context) -> list[str]:
    """Addresses of enabled administrators, each once, in a stable order."""
    found = {
        user.email.strip().lower(): user.email.strip()
        for user in list_users(ctx)
        if user.role is Role.ADMIN and not user.disabled and user.email
    }
    return [found[key] for key in sorted(found)]


def compose(alert: Alert, about: AlertSubject, now: dt.datetime) -> tuple[str, str]:
    """Subject and plain-text body: what happened, the facts, what to do."""
    expiry = _when(alert.not_after)
    left = _days_left(alert.not_after, now)
    facts = [
        f"Certificate: {about.name} (id {about.certificate_id})",
        f"Names: {', '.join(about.sans) or '(none)'}",
        f"Expires: {expiry} ({left})",
    ]
    if about.next_attempt_at is not None and alert.kind != AlertKind.ALL_CLEAR:
        facts.append(f"Next renewal attempt: {_when(about.next_attempt_at)}")
    error = _ca_said(alert)

    if alert.kind == AlertKind.RENEWAL_FAILED:
        subject = f"certdesk: renewing {about.name} failed"
        opening = (
            f"certdesk tried to renew the certificate {about.name} and the"
            " attempt failed. It keeps retrying by itself, backing off between"
            " attempts."
        )
        advice = (
            "What to do: read the CA's message above. Most failures mean a name"
            " does not resolve to this appliance, or port 80 does not reach it"
            " from the CA. Fix that, then run `certdesk acme renew"
            f" {about.certificate_id}` to try at once. You get a message when"
            " the renewal succeeds."
        )
    elif alert.kind == AlertKind.EXPIRY_ERROR:
        if alert.not_after <= now:
            subject = f"certdesk: {about.name} has EXPIRED and is not renewed"
        else:
            days = max((alert.not_after - now).days, 0)
            within = (
                f"{days} day{'s' if days != 1 else ''}" if days else "less than a day"
            )
            subject = f"certdesk: {about.name} expires in {within}, not renewed"
        opening = (
            f"The certificate {about.name} has not been renewed and clients will"
            f" stop trusting it on {expiry}."
        )
        advice = (
            "What to do: fix the cause the CA names above, then run `certdesk"
            f" acme renew {about.certificate_id}`; or import a certificate for"
            " these names from another CA. This message comes once a day until"
            " the certificate is renewed or removed."
        )
    else:
        subject = f"certdesk: {about.name} renewed, all clear"
        opening = (
            f"The certificate {about.name} was renewed after the problems"
            " reported earlier. The new certificate is in service."
        )
        advice = "Nothing to do."
        error = []

    body = "\n".join([opening, "", *facts, "", *error, advice, ""])
    return subject, body


def deliver(
    ctx: Context,
    smtp: mail.SmtpSettings | None,
    about: AlertSubject,
    alerts: Iterable[Alert],
) -> list[Delivery]:
    """Mail each alert to every administrator; record one event per alert.

    An alert counts as sent when at least one administrator got it; the
    others' refusals are in the event and the log.
    """
    to = recipients(ctx)
    results = []
    for alert in alerts:
        subject, body = compose(alert, about, ctx.now())
        delivered, errors = 0, []
        if smtp is None:
            errors.append(str(mail.not_configured()))
        elif not to:
            errors.append(
                "no enabled administrator has an email address; add one with"
                " 'certdesk user set-email NAME ADDRESS' or on the Users page"
            )
        if smtp is not None:
            delivered = _mail_each(smtp, to, subject, body, errors)
        results.append(_record(ctx, about, alert, delivered, errors))
    return results


def _mail_each(
    smtp: mail.SmtpSettings, to: list[str], subject: str, body: str, errors: list[str]
) -> int:
    """One message per address; how many went out, failures added to `errors`."""
    delivered = 0
    for address in to:
        try:
            mail.send(smtp, mail.message(smtp, [address], subject, body))
            delivered += 1
        except mail.MailError as exc:
            errors.append(str(exc))
            if not isinstance(exc, mail.MailRecipientRefused):
                break  # the server, not this address, is the problem
    return delivered


def sent_alerts(
    ctx: Context, certificate_ids: Iterable[int], since: dt.datetime
) -> list[SentAlert]:
    """The alert log for `alerts_due`: alerts sent about these certificates.

    Pass every certificate a managed certificate has had since `since`
    (the one renewed and its successor), so an all-clear after a renewal
    sees the trouble reported about the old one.
    """
    ids = [str(i) for i in certificate_ids]
    e = schema.Event
    query = (
        select(e)
        .where(e.action == SENT, e.object_type == "certificate")
        .where(e.object_id.in_(ids), e.at >= since)
        .order_by(e.id)
    )
    with ctx.store.transaction() as session:
        return [
            SentAlert(AlertKind(row.details["kind"]), row.at)
            for row in session.scalars(query)
            if row.details.get("kind") in set(AlertKind)
        ]


def _record(
    ctx: Context,
    about: AlertSubject,
    alert: Alert,
    delivered: int,
    errors: list[str],
) -> Delivery:
    now = ctx.now()
    details: dict[str, object] = {
        "kind": alert.kind.value,
        "recipients": delivered,
        "days_left": alert.days_left,
    }
    if errors:
        details["errors"] = errors
    with ctx.store.transaction() as session:
        events.record(
            session,
            at=now,
            actor=ctx.actor,
            action=SENT if delivered else FAILED,
            object_type="certificate",
            object_id=about.certificate_id,
            object_name=about.name,
            details=details,
        )
    fields = {"cert": about.name, "alert": alert.kind.value, "recipients": delivered}
    if delivered:
        log.info("alert sent", extra=fields)
    if errors:
        log.warning("alert not delivered", extra={**fields, "error": errors[0]})
    error = "; ".join(errors) if errors else None
    return Delivery(alert, delivered > 0, delivered, error)


def _ca_said(alert: Alert) -> list[str]:
    if not alert.last_error:
        return []
    attempts = f" ({alert.failures} failed attempts)" if alert.failures > 1 else ""
    return [f"The CA said{attempts}:", f"    {alert.last_error}", ""]


def _when(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _days_left(not_after: dt.datetime, now: dt.datetime) -> str:
    left = not_after - now
    if left <= dt.timedelta(0):
        return "expired"
    days = left.days
    if days >= 1:
        return f"{days} day{'s' if days != 1 else ''} left"
    hours = int(left.total_seconds() // 3600)
    return f"{hours} h left" if hours else "less than an hour left"
