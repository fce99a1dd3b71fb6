"""Which certificate a client gets: the TLS front end's decision, explained."""

from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from certdesk.services import serving
from certdesk.web.api.common import Reader, errors
from certdesk.web.api.models import WhichOut

router = APIRouter(tags=["serving"])


@router.get(
    "/which",
    response_model=WhichOut,
    summary="Which certificate a server name gets",
    responses=errors(422),
)
async def which(
    caller: Reader,
    server_name: Annotated[
        str | None,
        Query(
            max_length=1024,
            description="The name a client sends (SNI); leave out for a client "
            "that sends none.",
        ),
    ] = None,
) -> dict[str, Any]:
    """An exact SAN match, else a wildcard covering the leftmost label, else the
    default; `passed_over` says why other candidates lost."""
    found = await run_in_threadpool(serving.which, caller.ctx, server_name or None)
    return found.as_json()
