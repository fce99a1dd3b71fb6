"""The audit trail. Callers pass only public facts; nothing here is secret."""

import datetime as dt
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from certdesk.store import schema


def record_many(session: Session, rows: list[dict[str, Any]]) -> None:
    """Many events in one statement; each dict has `record`'s keyword names."""
    if rows:
        session.execute(
            insert(schema.table(schema.Event)),
            [
                {"details": {}, "object_id": None, "object_name": None, **r}
                for r in rows
            ],
        )


def record(
    session: Session,
    *,
    at: dt.datetime,
    actor: str,
    action: str,
    object_type: str,
    object_id: str | int | None = None,
    object_name: str | None = None,
    details: dict[str, Any] | None = None,
) -> schema.Event:
    row = schema.Event(
        at=at,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        object_name=object_name,
        details=details or {},
    )
    session.add(row)
    return row


def latest_id(session: Session) -> int:
    """The id of the newest event, 0 when there is none."""
    return session.scalar(select(func.max(schema.Event.id))) or 0


def list_events(
    session: Session, *, action: str | None = None, limit: int = 100
) -> list[schema.Event]:
    query = select(schema.Event).order_by(schema.Event.id.desc()).limit(limit)
    if action:
        query = query.where(schema.Event.action.like(f"{action}%"))
    return list(session.scalars(query))
