"""Stored certificate signing requests."""

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from certdesk.store import schema
from certdesk.store.references import by_reference
from certdesk.store.schema import CHUNK

Row = schema.Request


def get_request(session: Session, ref: str) -> Row:
    """By id, or by friendly name when that is unique."""
    return by_reference(session, Row, "request", ref)


def list_requests(session: Session) -> list[Row]:
    return list(session.scalars(select(Row).order_by(Row.id)))


def pending_for_keys(session: Session, key_ids: Iterable[str]) -> dict[str, list[Row]]:
    """Pending requests by key id, for many keys at once."""
    wanted = list(set(key_ids))
    found: dict[str, list[Row]] = defaultdict(list)
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        query = select(Row).where(Row.key_id.in_(chunk), Row.status == "pending")
        for row in session.scalars(query.order_by(Row.id)):
            found[row.key_id].append(row)
    return found
