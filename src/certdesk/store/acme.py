"""ACME accounts, managed certificates, their renewal lock, and challenge rows."""

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from certdesk.errors import NotFound
from certdesk.store import schema

Account = schema.AcmeAccount
Managed = schema.ManagedCertificate


def find_account(session: Session, directory_url: str) -> Account | None:
    return session.scalar(select(Account).where(Account.directory_url == directory_url))


def directory_urls(session: Session) -> dict[int, str]:
    """Each account's directory URL, by account id (there are a handful)."""
    rows = session.execute(select(Account.id, Account.directory_url))
    return {account_id: url for account_id, url in rows}


def get_account(session: Session, account_id: int) -> Account:
    row = session.get(Account, account_id)
    if row is None:
        raise NotFound("acme account", str(account_id))
    return row


def find_managed(session: Session, certificate_id: int) -> Managed | None:
    """The managed row of a certificate, if the appliance renews it."""
    return session.scalar(
        select(Managed).where(Managed.certificate_id == certificate_id)
    )


def list_managed(session: Session) -> list[tuple[Managed, schema.Certificate]]:
    """Every managed certificate with the certificate now in service."""
    query = (
        select(Managed, schema.Certificate)
        .join(schema.Certificate, schema.Certificate.id == Managed.certificate_id)
        .order_by(Managed.id)
    )
    return [(m, c) for m, c in session.execute(query)]


def take_lock(
    session: Session, managed_id: int, owner: str, now: dt.datetime, until: dt.datetime
) -> bool:
    """Claim the renewal of one certificate; False when another holds it.

    A single conditional UPDATE, so two workers racing for the row cannot both
    win on either database. A holder that died frees the row at `lock_until`.
    """
    result = session.execute(
        update(Managed)
        .where(Managed.id == managed_id)
        .where(or_(Managed.lock_until.is_(None), Managed.lock_until < now))
        .values(lock_owner=owner, lock_until=until),
        execution_options={"synchronize_session": False},
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def release_lock(session: Session, managed_id: int, owner: str) -> None:
    """Give the lock back, only if `owner` still holds it."""
    session.execute(
        update(Managed)
        .where(Managed.id == managed_id, Managed.lock_owner == owner)
        .values(lock_owner=None, lock_until=None),
        execution_options={"synchronize_session": False},
    )


def end_renewing(session: Session, managed_id: int) -> None:
    """The attempt is over, however it ended."""
    session.execute(
        update(Managed).where(Managed.id == managed_id).values(renewing_since=None),
        execution_options={"synchronize_session": False},
    )


def clear_stale(session: Session, started_before: dt.datetime, now: dt.datetime) -> int:
    """Forget attempts begun before `started_before` whose lock has lapsed.

    Only a worker that died mid-order leaves these; how many were cleared.
    """
    result = session.execute(
        update(Managed)
        .where(Managed.renewing_since < started_before)
        .where(or_(Managed.lock_until.is_(None), Managed.lock_until < now))
        .values(renewing_since=None, lock_owner=None, lock_until=None),
        execution_options={"synchronize_session": False},
    )
    return int(getattr(result, "rowcount", 0) or 0)


def predecessor_of(session: Session, certificate_id: int) -> int | None:
    """The certificate the renewal that issued this one replaced, if any."""
    row = session.scalar(
        select(schema.Event)
        .where(schema.Event.action == "acme.issued")
        .where(schema.Event.object_type == "certificate")
        .where(schema.Event.object_id == str(certificate_id))
        .order_by(schema.Event.id.desc())
        .limit(1)
    )
    if row is None:
        return None
    replaced = row.details.get("replaced_certificate_id")
    return replaced if isinstance(replaced, int) else None


def put_challenges(
    session: Session, answers: Iterable[tuple[str, str]], now: dt.datetime
) -> None:
    """Store HTTP-01 answers (token, key authorization) for every listener."""
    for token, key_authorization in answers:
        row = session.get(schema.AcmeChallenge, token)
        if row is None:
            session.add(
                schema.AcmeChallenge(
                    token=token, key_authorization=key_authorization, created_at=now
                )
            )
        else:
            row.key_authorization = key_authorization


def remove_challenges(session: Session, tokens: Iterable[str]) -> None:
    wanted = list(tokens)
    if wanted:
        session.execute(
            delete(schema.AcmeChallenge).where(schema.AcmeChallenge.token.in_(wanted)),
            execution_options={"synchronize_session": False},
        )
