"""Reading the audit trail."""

from typing import Any

from certdesk.services.context import Context
from certdesk.services.views import event_json
from certdesk.store import events


def list_events(
    ctx: Context, *, action: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    with ctx.store.transaction() as session:
        return [
            event_json(e)
            for e in events.list_events(session, action=action, limit=limit)
        ]
