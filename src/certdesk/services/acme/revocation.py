"""Revoking a managed certificate at its CA, and taking it out of service.

After the CA confirms, the certificate stays in the store as a record (its
managed row says "revoked", so `acme status` shows it and renewals stop) but
its private key is deleted: the served set holds only certificates whose key
is held, so it stops being served at once. `cert delete` removes the record.
"""

import enum
import logging
from dataclasses import dataclass
from typing import Any

from certdesk.errors import Conflict
from certdesk.pki.certificates import load_stored
from certdesk.services.acme import accounts
from certdesk.services.acme.client import CaError, Polling
from certdesk.services.acme.directories import Directory
from certdesk.services.context import Context
from certdesk.store import acme as stored_acme
from certdesk.store import appliance, events
from certdesk.store import certificates as stored
from certdesk.store import keys as stored_keys

log = logging.getLogger(__name__)


class Reason(enum.IntEnum):
    """RFC 5280 reason codes that CAs accept over ACME, by their RFC names."""

    unspecified = 0
    keyCompromise = 1
    affiliationChanged = 3
    superseded = 4
    cessationOfOperation = 5


@dataclass(frozen=True)
class Revoked:
    certificate_id: int
    name: str
    fingerprint_sha256: str
    serial: str
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {
            "certificate_id": self.certificate_id,
            "name": self.name,
            "fingerprint_sha256": self.fingerprint_sha256,
            "serial": self.serial,
            "reason": self.reason,
            "state": "revoked",
        }


def revoke(
    ctx: Context,
    ref: str,
    reason: Reason = Reason.unspecified,
    *,
    polling: Polling | None = None,
) -> Revoked:
    """Revoke at the CA with the account key, then stop serving the certificate."""
    with ctx.store.transaction() as session:
        row = stored.get_certificate(session, ref)
        managed = stored_acme.find_managed(session, row.id)
        if managed is None:
            raise Conflict(
                f"certificate {row.id} ({row.name}) is not managed over ACME; "
                "only certificates this appliance ordered can be revoked here"
            )
        if managed.state == "revoked":
            raise Conflict(f"certificate {row.id} ({row.name}) is already revoked")
        if row.id == appliance.default_certificate_id(session):
            raise Conflict(
                f"certificate {row.id} ({row.name}) is the default certificate; "
                "make another one the default first (certdesk cert default ID), "
                "so that clients are not left without one"
            )
        account = stored_acme.get_account(session, managed.account_id)
        directory = Directory(account.directory_url, account.ca_bundle_pem)
        cert = load_stored(row.der)
        managed_id = row.id

    opened = accounts.open_account(ctx, directory, polling=polling or Polling())
    try:
        opened.session.revoke(cert, int(reason))
    except CaError as exc:
        if exc.code != "alreadyRevoked":
            raise
    finally:
        opened.session.close()

    now = ctx.now()
    with ctx.store.transaction() as session:
        row = stored.get_certificate(session, str(managed_id))
        managed = stored_acme.find_managed(session, row.id)
        if managed is not None:
            managed.state = "revoked"
            managed.next_renewal_at = None
            managed.next_renewal_reason = "revoked: never renewed"
        key_id = row.key_id
        row.key_id = None
        session.flush()
        removed_key = key_id is not None and stored_keys.delete_key_if_unused(
            session, key_id
        )
        serial = f"{cert.serial_number:x}"
        events.record(
            session,
            at=now,
            actor=ctx.actor,
            action="acme.revoked",
            object_type="certificate",
            object_id=row.id,
            object_name=row.name,
            details={
                "fingerprint_sha256": row.fingerprint_sha256,
                "serial": serial,
                "reason": reason.name,
                "directory": directory.url,
                "removed_key": removed_key,
            },
        )
        result = Revoked(row.id, row.name, row.fingerprint_sha256, serial, reason.name)
    log.info(
        "ACME certificate revoked",
        extra={"cert": result.name, "fingerprint": result.fingerprint_sha256},
    )
    return result
