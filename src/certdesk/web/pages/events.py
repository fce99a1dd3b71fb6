"""The audit log: every change and sign-in, filtered and paged.

Pages are cut by event id rather than by offset, so "Older" keeps showing
the same events while new ones are being recorded.
"""

import datetime as dt
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from certdesk.services import audit
from certdesk.web.auth import Caller, page_reader
from certdesk.web.pages.forms import object_id
from certdesk.web.pages.templating import render

router = APIRouter(include_in_schema=False)

EVENTS = "/appliance/events"
PER_PAGE = 50
FILTERS = ("action", "actor", "object", "from", "to")
ACTIONS = ("certificate.", "request.", "user.", "token.")


@router.get(EVENTS)
async def events_page(
    request: Request, caller: Annotated[Caller, Depends(page_reader)]
) -> Response:
    query = request.query_params
    chosen = {name: query.get(name, "").strip() for name in FILTERS}
    errors: dict[str, str] = {}
    since = _day(chosen["from"], "from", errors)
    to = _day(chosen["to"], "to", errors)
    until = to + dt.timedelta(days=1) if to else None
    before = _id(query.get("before"))
    after = _id(query.get("after"))
    if errors:
        return _page(request, caller, chosen, errors, [], "", "", status=422)

    found = await run_in_threadpool(
        lambda: audit.list_events(
            caller.ctx,
            action=chosen["action"] or None,
            actor=chosen["actor"] or None,
            object_name=chosen["object"] or None,
            since=since,
            until=until,
            before_id=before,
            after_id=None if before else after,
            limit=PER_PAGE + 1,
        )
    )
    # One more than a page says whether there is more beyond it.
    more = len(found) > PER_PAGE
    if after and not before:
        shown = found[-PER_PAGE:]
        newer, older = more, bool(shown)
    else:
        shown = found[:PER_PAGE]
        newer, older = bool(before) and bool(shown), more
    kept = {k: v for k, v in chosen.items() if v}
    newer_link = _link(kept, after=shown[0]["id"]) if newer and shown else ""
    older_link = _link(kept, before=shown[-1]["id"]) if older and shown else ""
    return _page(request, caller, chosen, errors, shown, newer_link, older_link)


def _page(
    request: Request,
    caller: Caller,
    chosen: dict[str, str],
    errors: dict[str, str],
    shown: list[dict[str, Any]],
    newer: str,
    older: str,
    *,
    status: int = 200,
) -> Response:
    return render(
        request,
        "events.html",
        caller,
        status=status,
        chosen=chosen,
        errors=errors,
        events=[{**e, "facts": _facts(e["details"])} for e in shown],
        newer=newer,
        older=older,
        actions=ACTIONS,
        filtered=any(chosen.values()),
    )


def _facts(details: dict[str, Any]) -> list[tuple[str, str]]:
    """An event's details as words: lists joined, yes and no, "none"."""
    return [(key.replace("_", " "), _word(value)) for key, value in details.items()]


def _word(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(_word(v) for v in value) or "none"
    if isinstance(value, dict):
        return "; ".join(f"{k} {_word(v)}" for k, v in value.items())
    return str(value)


def _link(kept: dict[str, str], **where: int) -> str:
    return f"{EVENTS}?{urlencode({**kept, **where})}"


def _day(value: str, name: str, errors: dict[str, str]) -> dt.datetime | None:
    """A date from the filter form, as the start of that day in UTC."""
    if not value:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        errors[name] = f"{value!r} is not a date; write it as 2026-06-01"
        return None
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def _id(value: str | None) -> int | None:
    return object_id(value) if value else None
