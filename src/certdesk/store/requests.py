"""Stored certificate signing requests."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from certdesk.errors import Ambiguous, NotFound
from certdesk.store import schema

Row = schema.Request


def get_request(session: Session, ref: str) -> Row:
    """By id, or by friendly name when that is unique."""
    ref = ref.strip()
    if ref.isdigit():
        row = session.get(Row, int(ref))
        if row is not None:
            return row
    named = session.scalars(select(Row).where(Row.name == ref)).all()
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise Ambiguous("request", ref, [r.id for r in named])
    raise NotFound("request", ref)


def list_requests(session: Session) -> list[Row]:
    return list(session.scalars(select(Row).order_by(Row.id)))


def pending_for_key(session: Session, key_id: str) -> list[Row]:
    query = select(Row).where(Row.key_id == key_id, Row.status == "pending")
    return list(session.scalars(query))
