"""The audit trail. Callers pass only public facts; nothing here is secret."""

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, insert, select
from sqlalchemy.orm import InstrumentedAttribute, Session

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


# Events about accounts, tokens and the mail relay never change what is served.
_NOT_SERVING = ("user", "token", "mail-settings")


def latest_serving_id(session: Session) -> int:
    """The id of the newest event that may change what is served, 0 if none.

    Sign-ins record events too, and a burst of them (someone guessing
    passwords) must not make every server rebuild its served set.
    """
    newest = (
        select(schema.Event.id)
        .where(schema.Event.object_type.not_in(_NOT_SERVING))
        .order_by(schema.Event.id.desc())
        .limit(1)
    )
    return session.scalar(newest) or 0


@dataclass(frozen=True)
class EventFilter:
    """Which events to read; every part is optional and they all must hold.

    `action` is a prefix ("certificate." for every certificate event);
    `actor` and `object_name` match anywhere, ignoring case; `since` is
    inclusive and `until` exclusive.
    """

    action: str | None = None
    actor: str | None = None
    object_name: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def list_events(
    session: Session,
    where: EventFilter,
    *,
    limit: int = 100,
    before_id: int | None = None,
    after_id: int | None = None,
) -> list[schema.Event]:
    """Events newest first: the newest `limit` matches, or those just older than
    `before_id`, or just newer than `after_id` (paging by id stays put while new
    events arrive, which an offset would not)."""
    e = schema.Event
    query = select(e)
    if where.action:
        query = query.where(e.action.startswith(where.action, autoescape=True))
    if where.actor:
        query = query.where(_contains(e.actor, where.actor))
    if where.object_name:
        query = query.where(_contains(e.object_name, where.object_name))
    if where.since is not None:
        query = query.where(e.at >= where.since)
    if where.until is not None:
        query = query.where(e.at < where.until)

    if after_id is not None:
        query = query.where(e.id > after_id).order_by(e.id.asc()).limit(limit)
        return list(reversed(list(session.scalars(query))))
    if before_id is not None:
        query = query.where(e.id < before_id)
    return list(session.scalars(query.order_by(e.id.desc()).limit(limit)))


def _contains(column: InstrumentedAttribute[Any], text: str) -> ColumnElement[bool]:
    return func.lower(column).contains(text.lower(), autoescape=True)
