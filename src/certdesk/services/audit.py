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
    ctx: Context,
    *,
    action: str | None = None,
    actor: str | None = None,
    object_name: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    before_id: int | None = None,
    after_id: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Events newest first, filtered; see `store.events.list_events` for paging."""
    where = events.EventFilter(action, actor, object_name, since, until)
    with ctx.store.transaction() as session:
        found = events.list_events(
            session, where, limit=limit, before_id=before_id, after_id=after_id
        )
        return [event_json(e) for e in found]
