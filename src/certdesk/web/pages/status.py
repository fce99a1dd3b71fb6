"""Status > Basics: what this appliance is and what it serves."""

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from certdesk.web import overview
from certdesk.web.auth import Caller, page_reader
from certdesk.web.config import WebConfig
from certdesk.web.pages.templating import render

router = APIRouter(include_in_schema=False)

NOTICES = {"password-changed": "Your password has been changed."}


@router.get("/appliance/status")
async def status_page(
    request: Request, caller: Annotated[Caller, Depends(page_reader)]
) -> Response:
    config: WebConfig = request.app.state.config
    basics = await run_in_threadpool(overview.basics, caller.ctx, config)
    notice = NOTICES.get(request.query_params.get("notice", ""))
    return render(request, "status.html", caller, notice=notice, basics=basics)
