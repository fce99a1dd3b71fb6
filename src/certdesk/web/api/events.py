"""The audit trail, filtered and paged as the Audit log page is."""

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AwareDatetime
from starlette.concurrency import run_in_threadpool

from certdesk.errors import InvalidInput
from certdesk.services import audit
from certdesk.web.api.common import MAX_ID, Reader, errors
from certdesk.web.api.models import EventOut, Text

router = APIRouter(tags=["events"])

MAX_PAGE = 1000


@router.get(
    "/events",
    response_model=list[EventOut],
    summary="List audit events",
    responses=errors(422),
)
async def list_events(
    caller: Reader,
    action: Annotated[
        Text | None,
        Query(max_length=64, description="Actions starting with this: 'user.'."),
    ] = None,
    actor: Annotated[
        Text | None,
        Query(max_length=200, description="Actors containing this, any case."),
    ] = None,
    object_name: Annotated[
        Text | None,
        Query(max_length=200, description="Object names containing this."),
    ] = None,
    since: Annotated[
        AwareDatetime | None, Query(description="At or after this time.")
    ] = None,
    until: Annotated[
        AwareDatetime | None, Query(description="Before this time.")
    ] = None,
    before_id: Annotated[
        int | None,
        Query(ge=1, le=MAX_ID, description="The next page: ids below the last seen."),
    ] = None,
    after_id: Annotated[
        int | None,
        Query(ge=1, le=MAX_ID, description="The previous page: ids above this."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> list[dict[str, Any]]:
    """Newest first. Page by id (`before_id` = the last id of a page), which
    stays put while new events arrive."""
    found = await run_in_threadpool(
        lambda: audit.list_events(
            caller.ctx,
            action=action or None,
            actor=actor or None,
            object_name=object_name or None,
            since=_utc(since, "since"),
            until=_utc(until, "until"),
            before_id=before_id,
            after_id=after_id,
            limit=limit,
        )
    )
    return found


def _utc(moment: dt.datetime | None, field: str) -> dt.datetime | None:
    """In UTC, as the store keeps times; the far edges of the calendar do not fit."""
    if moment is None:
        return None
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:
        raise InvalidInput(field, "is outside the years 1 to 9999 in UTC") from None
