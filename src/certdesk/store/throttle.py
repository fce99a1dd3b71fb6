"""Stored sign-in failure counters, one row per (client, user name) key."""

import datetime as dt

from sqlalchemy import delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from certdesk.store import schema

Row = schema.SignInThrottle


def claim(session: Session, key: str, username: str | None) -> Row:
    """The counter for `key`, created if new and held until the transaction ends.

    INSERT ... ON CONFLICT DO NOTHING then SELECT ... FOR UPDATE: two attempts
    at once with the same key neither fail on the unique key nor both slip
    under the throttle (on SQLite the write lock serialises them anyway).
    """
    insert = (
        postgresql.insert
        if session.get_bind().dialect.name == "postgresql"
        else sqlite.insert
    )
    values = {"key_sha256": key, "username": username, "failures": 0}
    session.execute(insert(Row).values(values).on_conflict_do_nothing())
    row = session.scalar(
        select(Row)
        .where(Row.key_sha256 == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert row is not None, "the counter row was just inserted"
    if row.username != username:
        # The account was created or renamed since the row was written.
        row.username = username
    return row


def forget(session: Session, row: Row) -> None:
    session.delete(row)


def forget_user(session: Session, username: str) -> int:
    """Drop every counter of an existing account (a password reset)."""
    result = session.execute(delete(Row).where(Row.username == username))
    return int(getattr(result, "rowcount", 0) or 0)


def sweep(session: Session, before: dt.datetime, keep: str) -> None:
    """Delete counters whose last failure is older than `before`.

    Rows another attempt holds are skipped, never waited for: two sweeps
    must not deadlock each other on PostgreSQL.
    """
    stale = (
        select(Row.key_sha256)
        .where(
            Row.key_sha256 != keep,
            or_(Row.last_failed_at.is_(None), Row.last_failed_at < before),
        )
        .with_for_update(skip_locked=True)
    )
    session.execute(
        delete(Row)
        .where(Row.key_sha256.in_(stale))
        .execution_options(synchronize_session=False)
    )


def locks(
    session: Session, now: dt.datetime, username: str | None = None
) -> dict[str, tuple[int, dt.datetime]]:
    """Per account name: how many clients are locked out now, and until when
    the last of those locks lasts."""
    query = (
        select(Row.username, func.count(), func.max(Row.locked_until))
        .where(Row.username.is_not(None), Row.locked_until > now)
        .group_by(Row.username)
    )
    if username is not None:
        query = query.where(Row.username == username)
    found: dict[str, tuple[int, dt.datetime]] = {}
    for name, count, until in session.execute(query):
        if name is not None and until is not None:
            found[name] = (int(count), _aware(until))
    return found


def _aware(moment: dt.datetime) -> dt.datetime:
    """UTC, even if a driver hands back the aggregate without its zone."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)
