"""Reading the audit trail."""

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from certdesk.services.context import Context
from certdesk.services.views import event_json
from certdesk.store import events, schema

_OBJECT_TYPES: dict[type[schema.Base], str] = {
    schema.Certificate: "certificate",
    schema.Request: "request",
    schema.User: "user",
    schema.ApiToken: "token",
}

Audited = schema.Certificate | schema.Request | schema.User | schema.ApiToken


def record(
    ctx: Context,
    session: Session,
    at: dt.datetime,
    action: str,
    obj: Audited,
    details: dict[str, Any],
) -> None:
    """An event about `obj`, by whoever `ctx` says is acting, in this transaction."""
    name = obj.username if isinstance(obj, schema.User) else obj.name
    events.record(
        session,
        at=at,
        actor=ctx.actor,
        action=action,
        object_type=_OBJECT_TYPES[type(obj)],
        object_id=obj.id,
        object_name=name,
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
