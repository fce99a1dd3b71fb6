"""Reading the audit trail."""

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from certdesk.services.context import Context
from certdesk.services.views import event_json
from certdesk.store import events, schema

_OBJECT_TYPES = {schema.Certificate: "certificate", schema.Request: "request"}


def record(
    ctx: Context,
    session: Session,
    at: dt.datetime,
    action: str,
    obj: schema.Certificate | schema.Request,
    details: dict[str, Any],
) -> None:
    """An event about `obj`, by whoever `ctx` says is acting, in this transaction."""
    events.record(
        session,
        at=at,
        actor=ctx.actor,
        action=action,
        object_type=_OBJECT_TYPES[type(obj)],
        object_id=obj.id,
        object_name=obj.name,
        details=details,
    )


def list_events(
    ctx: Context, *, action: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    with ctx.store.transaction() as session:
        return [
            event_json(e)
            for e in events.list_events(session, action=action, limit=limit)
        ]
