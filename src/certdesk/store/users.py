"""Stored user accounts, looked up by their (lower-case) user name."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from certdesk.errors import NotFound
from certdesk.store import schema

Row = schema.User


def find_user(session: Session, username: str, *, lock: bool = False) -> Row | None:
    """The account named `username`, or None.

    `lock` holds the row until the transaction ends (on PostgreSQL), so that
    two sign-in attempts at once cannot both slip under the failure throttle.
    """
    query = select(Row).where(Row.username == username)
    if lock:
        query = query.with_for_update()
    return session.scalar(query)


def get_user(session: Session, username: str, *, lock: bool = False) -> Row:
    row = find_user(session, username, lock=lock)
    if row is None:
        raise NotFound("user", username)
    return row


def list_users(session: Session) -> list[Row]:
    return list(session.scalars(select(Row).order_by(Row.username)))


def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Row)) or 0


def enabled_with_role(session: Session, role: str) -> list[Row]:
    """Enabled accounts with `role`, locked against a concurrent disable."""
    query = select(Row).where(Row.role == role, Row.disabled.is_(False))
    return list(session.scalars(query.order_by(Row.id).with_for_update()))
