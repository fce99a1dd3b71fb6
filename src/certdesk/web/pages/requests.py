"""A certificate request's page: its Request Data to copy or download.

The guide's renewal step sends the original request to the CA again, so the
PEM is always one click (or one download) away.
"""

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from certdesk.services import certificates, requests
from certdesk.web import downloads
from certdesk.web.auth import Caller, page_admin, page_admin_form, page_reader
from certdesk.web.downloads import REQUEST_DATA
from certdesk.web.pages import flash
from certdesk.web.pages.flash import Flash
from certdesk.web.pages.forms import PageId
from certdesk.web.pages.templating import render

router = APIRouter(include_in_schema=False)

PAGE = "/appliance/requests/{request_id:int}"


@router.get(PAGE)
async def request_page(
    request: Request,
    request_id: PageId,
    caller: Annotated[Caller, Depends(page_reader)],
) -> Response:
    view = await run_in_threadpool(requests.show, caller.ctx, str(request_id))
    fulfilled_by = None
    if view.certificate_id is not None:
        fulfilled_by = await run_in_threadpool(
            certificates.show, caller.ctx, str(view.certificate_id)
        )
    return flash.render_page(
        request, "request.html", caller, req=view, fulfilled_by=fulfilled_by
    )


@router.get(PAGE + "/csr")
async def download_csr(
    request_id: PageId, caller: Annotated[Caller, Depends(page_reader)]
) -> Response:
    view = await run_in_threadpool(requests.show, caller.ctx, str(request_id))
    return downloads.attachment(view.pem, REQUEST_DATA, view.name, view.id)


@router.get(PAGE + "/delete")
async def confirm_delete(
    request: Request, request_id: PageId, caller: Annotated[Caller, Depends(page_admin)]
) -> Response:
    view = await run_in_threadpool(requests.show, caller.ctx, str(request_id))
    return render(request, "request_delete.html", caller, req=view)


@router.post(PAGE + "/delete")
async def delete(
    request: Request,
    request_id: PageId,
    caller: Annotated[Caller, Depends(page_admin_form)],
) -> Response:
    view = await run_in_threadpool(requests.delete, caller.ctx, str(request_id))
    notice = f"Deleted the request “{view.name}”."
    if view.status == "pending":
        notice += (
            " Its private key went with it: a certificate the CA signs for it "
            "now cannot be used."
        )
    return flash.redirect(request, "/appliance/certificates", Flash(notice))
