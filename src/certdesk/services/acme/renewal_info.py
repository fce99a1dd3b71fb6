"""The CA's renewal information (ACME ARI, RFC 9773), kept on the managed row.

A CA that offers `renewalInfo` says, per certificate, when to renew: usually
a window a little before the default time, and much earlier when it is about
to revoke certificates (a mis-issuance, a key compromise). The scheduler asks
every `RECHECK` (or later, when the CA's Retry-After says so) and plans with
the window; a directory without ARI is remembered as such for a day, so it
costs nothing per certificate.
"""

import datetime as dt
import logging
from dataclasses import dataclass

from certdesk.errors import CertdeskError
from certdesk.pki.certificates import load_stored
from certdesk.pki.renewal import RenewalInfo
from certdesk.services.acme import accounts
from certdesk.services.acme.client import Polling
from certdesk.services.acme.directories import Directory
from certdesk.services.context import Context
from certdesk.store import schema

log = logging.getLogger(__name__)

# How often a certificate's window is asked for, unless the CA says longer.
RECHECK = dt.timedelta(hours=6)
# How long a directory without renewal information is believed to have none.
NO_ARI_MEMORY = dt.timedelta(days=1)

# Directory URL -> until when it is known to offer no renewal information.
_without_ari: dict[str, dt.datetime] = {}


@dataclass(frozen=True)
class Checked:
    """The window now on the row (None: the CA gives none) and the next ask."""

    info: RenewalInfo | None
    # None: the directory has none; asked again once its memory lapses.
    next_check_at: dt.datetime | None


def due(
    directory_url: str, next_check_at: dt.datetime | None, now: dt.datetime
) -> bool:
    """Whether to ask now: never for a directory just found to have no ARI."""
    known_without = _without_ari.get(directory_url)
    if known_without is not None and now < known_without:
        return False
    return next_check_at is None or now >= next_check_at


def refresh(
    ctx: Context, managed_id: int, now: dt.datetime, polling: Polling
) -> Checked | None:
    """Ask the CA for the certificate's window and store it on the row.

    None when the row is gone. A CA error is logged and the old window kept;
    the next ask is then `RECHECK` away, so a broken endpoint costs one call
    per certificate every few hours, not one per pass.
    """
    with ctx.store.transaction() as session:
        managed = session.get(schema.ManagedCertificate, managed_id)
        if managed is None:
            return None
        cert_row = session.get(schema.Certificate, managed.certificate_id)
        account = session.get(schema.AcmeAccount, managed.account_id)
        if cert_row is None or account is None:
            return None
        directory = Directory(account.directory_url, account.ca_bundle_pem)
        der = cert_row.der
        old = _info(managed)

    window = None
    next_check = now + RECHECK
    try:
        opened = accounts.open_account(ctx, directory, polling=polling)
        try:
            if not opened.session.offers_renewal_info:
                _without_ari[directory.url] = now + NO_ARI_MEMORY
                return _store(ctx, managed_id, None, None)
            window = opened.session.renewal_window(load_stored(der))
        finally:
            opened.session.close()
    except CertdeskError as exc:
        log.warning(
            "cannot read the CA's renewal information; keeping the last window",
            extra={"directory": directory.url, "error": str(exc)},
        )
        return _store(ctx, managed_id, old, next_check)

    if window is None:
        return _store(ctx, managed_id, None, next_check)
    if window.retry_after:
        next_check = max(next_check, now + dt.timedelta(seconds=window.retry_after))
    info = RenewalInfo(window.start, window.end, window.explanation_url)
    return _store(ctx, managed_id, info, next_check)


def _store(
    ctx: Context,
    managed_id: int,
    info: RenewalInfo | None,
    next_check: dt.datetime | None,
) -> Checked | None:
    """Keep the window and when to ask next."""
    with ctx.store.transaction() as session:
        managed = session.get(schema.ManagedCertificate, managed_id)
        if managed is None:
            return None
        managed.renewal_window_start = info.window_start if info else None
        managed.renewal_window_end = info.window_end if info else None
        managed.renewal_explanation_url = info.explanation_url if info else None
        managed.renewal_info_next_check_at = next_check
    return Checked(info, next_check)


def _info(managed: schema.ManagedCertificate) -> RenewalInfo | None:
    if managed.renewal_window_start is None or managed.renewal_window_end is None:
        return None
    return RenewalInfo(
        managed.renewal_window_start,
        managed.renewal_window_end,
        managed.renewal_explanation_url,
    )


def forget_directories() -> None:
    """Drop what is remembered about directories (tests start clean)."""
    _without_ari.clear()
