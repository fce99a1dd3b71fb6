"""Signed-in browsers, found by the SHA-256 of the secret their cookie holds."""

import datetime as dt

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from certdesk.store import schema

Row = schema.WebSession


def find_session(
    session: Session, secret_sha256: str
) -> tuple[Row, schema.User] | None:
    """The session and its user, in one query."""
    query = (
        select(Row, schema.User)
        .join(schema.User, schema.User.id == Row.user_id)
        .where(Row.secret_sha256 == secret_sha256)
    )
    found = session.execute(query).one_or_none()
    if found is None:
        return None
    return found[0], found[1]


def end_for_user(session: Session, user_id: int) -> int:
    """Delete every session of one user; returns how many there were."""
    result = session.execute(delete(Row).where(Row.user_id == user_id))
    return int(getattr(result, "rowcount", 0) or 0)


def delete_stale(
    session: Session, *, seen_before: dt.datetime, started_before: dt.datetime
) -> None:
    """Remove sessions idle since `seen_before` or begun before `started_before`."""
    session.execute(
        delete(Row).where(
            or_(Row.last_seen_at < seen_before, Row.started_at < started_before)
        )
    )
