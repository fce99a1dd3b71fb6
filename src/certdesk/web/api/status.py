"""GET /status: the appliance's basics, as the Status page shows them."""

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from certdesk.web import overview
from certdesk.web.api.common import Reader, errors
from certdesk.web.api.models import BasicsOut
from certdesk.web.config import WebConfig

router = APIRouter(tags=["status"])


@router.get(
    "/status", response_model=BasicsOut, summary="Status > Basics", responses=errors()
)
async def get_status(request: Request, caller: Reader) -> dict[str, Any]:
    """Hostname, version, node, uptime, the default certificate and each served name."""
    config: WebConfig = request.app.state.config
    basics = await run_in_threadpool(overview.basics, caller.ctx, config)
    return basics.as_json()
