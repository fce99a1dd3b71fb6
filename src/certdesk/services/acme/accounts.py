"""The appliance's account at each ACME directory: one, made on first use.

The account key is ECDSA P-256, sealed in `keys` like a certificate's key.
Pebble (and a CA that lost its data) may forget an account; the same key is
then registered again and the stored URL updated.
"""

import logging
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.orm import Session

from certdesk.errors import InvalidInput
from certdesk.pki.keys import KeyType, generate_key
from certdesk.services.acme.client import AcmeSession, Eab, Polling
from certdesk.services.acme.directories import Directory
from certdesk.services.context import Context
from certdesk.store import acme as stored
from certdesk.store import events, schema
from certdesk.store import keys as stored_keys

log = logging.getLogger(__name__)

OBJECT_TYPE = "acme-account"


@dataclass
class Account:
    """An open session and the stored account it speaks for."""

    id: int
    session: AcmeSession
    created: bool


def open_account(
    ctx: Context,
    directory: Directory,
    *,
    polling: Polling,
    email: str | None = None,
    eab: Eab | None = None,
) -> Account:
    """A session signed by this directory's account, registering it if new."""
    with ctx.store.transaction() as session:
        row = stored.find_account(session, directory.url)
        if row is not None:
            key = _account_key(
                stored_keys.load_key(session, ctx.store.master_key, row.key_id)
            )
            if directory.ca_bundle_pem is not None:
                row.ca_bundle_pem = directory.ca_bundle_pem or None
            bundle = row.ca_bundle_pem
            account_id, account_url = row.id, row.account_url
    if row is not None:
        acme = AcmeSession(Directory(directory.url, bundle), key, polling)
        acme.use_account(account_url)
        return Account(account_id, acme, created=False)

    key = _account_key(generate_key(KeyType.P256))
    acme = AcmeSession(directory, key, polling)
    try:
        _check_eab(acme, eab)
        url = acme.register(email, eab)
    except BaseException:
        acme.close()
        raise
    now = ctx.now()
    with ctx.store.transaction() as session:
        key_row = stored_keys.add_key(session, ctx.store.master_key, key, now)
        row = schema.AcmeAccount(
            directory_url=directory.url,
            key_id=key_row.id,
            account_url=url,
            email=email,
            eab_kid=eab.kid if eab else None,
            ca_bundle_pem=directory.ca_bundle_pem or None,
            created_at=now,
        )
        session.add(row)
        session.flush()
        _record(ctx, session, row, "acme.account_created")
        account_id = row.id
    log.info("ACME account created", extra={"directory": directory.url})
    return Account(account_id, acme, created=True)


def register_again(ctx: Context, account: Account, eab: Eab | None) -> None:
    """The CA no longer knows the account: register its key again."""
    with ctx.store.transaction() as session:
        row = stored.get_account(session, account.id)
        email = row.email
    _check_eab(account.session, eab)
    url = account.session.register(email, eab)
    with ctx.store.transaction() as session:
        row = stored.get_account(session, account.id)
        previous = row.account_url
        row.account_url = url
        if eab is not None:
            row.eab_kid = eab.kid
        _record(ctx, session, row, "acme.account_registered_again", previous=previous)
    log.warning(
        "the CA had forgotten the ACME account; registered again",
        extra={"directory": row.directory_url},
    )


def _check_eab(acme: AcmeSession, eab: Eab | None) -> None:
    if eab is None and acme.requires_eab:
        raise InvalidInput(
            "eab-kid",
            f"{acme.directory.url} requires External Account Binding: give the "
            "key id with --eab-kid and the HMAC key in a file with --eab-hmac-file, "
            "both from your account with that CA",
        )


def _account_key(key: object) -> ec.EllipticCurvePrivateKey:
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TypeError("ACME account keys are ECDSA")
    return key


def _record(
    ctx: Context,
    session: Session,
    row: schema.AcmeAccount,
    action: str,
    previous: str | None = None,
) -> None:
    details: dict[str, object] = {
        "directory": row.directory_url,
        "account_url": row.account_url,
        "eab_kid": row.eab_kid,
    }
    if previous is not None:
        details["previous_account_url"] = previous
    events.record(
        session,
        at=ctx.now(),
        actor=ctx.actor,
        action=action,
        object_type=OBJECT_TYPE,
        object_id=row.id,
        object_name=row.directory_url[:200],
        details=details,
    )
