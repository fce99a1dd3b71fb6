"""Certificate signing requests: the key stays here, the request goes to a CA."""

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from certdesk.services import requests
from certdesk.services.context import Context
from certdesk.services.requests import CreatedRequest
from certdesk.web.api.certificates import subject_of
from certdesk.web.api.common import (
    Admin,
    Id,
    Reader,
    errors,
)
from certdesk.web.api.models import (
    CreatedRequestOut,
    DeletedRequestOut,
    RequestIn,
    RequestOut,
    RequestSummaryOut,
)
from certdesk.web.downloads import REQUEST_DATA, attachment

router = APIRouter(tags=["requests"])


@router.get(
    "/requests",
    response_model=list[RequestSummaryOut],
    summary="List requests",
    responses=errors(),
)
async def list_requests(caller: Reader) -> list[dict[str, Any]]:
    """Pending and fulfilled requests; the request data is on each one's page."""
    views = await run_in_threadpool(requests.list_requests, caller.ctx)
    return [v.as_json(with_pem=False) for v in views]


@router.get(
    "/requests/{id}",
    response_model=RequestOut,
    summary="Show a request",
    responses=errors(404, 422),
)
async def show_request(id: Id, caller: Reader) -> dict[str, Any]:
    """The request and its request data (PEM), ready to paste into a CA's form."""
    view = await run_in_threadpool(requests.show, caller.ctx, str(id))
    return view.as_json()


@router.get(
    "/requests/{id}/csr",
    response_class=Response,
    summary="Download the request data",
    responses={
        200: {
            "description": "The PKCS#10 request, PEM-encoded, as an attachment.",
            "content": {REQUEST_DATA.media_type: {"schema": {"type": "string"}}},
        },
        **errors(404, 422),
    },
)
async def download_request(id: Id, caller: Reader) -> Response:
    """What to upload to a CA that asks for a .csr file."""
    view = await run_in_threadpool(requests.show, caller.ctx, str(id))
    return attachment(view.pem, REQUEST_DATA, view.name, view.id)


@router.post(
    "/requests",
    response_model=CreatedRequestOut,
    status_code=201,
    summary="Create a request",
    responses=errors(400, 403, 404, 409, 413, 422),
)
async def create_request(body: RequestIn, caller: Admin) -> dict[str, Any]:
    """A new key and a PKCS#10 request for it.

    With `like_certificate`, the subject and SANs not given are copied from
    that certificate: a re-key, for a renewal or another CA.
    """
    created = await run_in_threadpool(_create, caller.ctx, body)
    return {**created.view.as_json(), "input_warnings": list(created.warnings)}


def _create(ctx: Context, body: RequestIn) -> CreatedRequest:
    """Copy the certificate's fields the way `certdesk request create --from` does."""
    if body.like_certificate is not None:
        copied = requests.fields_like(ctx, str(body.like_certificate))
        given = body.model_dump()
        updates = {
            field: value
            for field, value in copied.items()
            if field in given and field != "name" and not given[field]
        }
        body = body.model_copy(update=updates)
    return requests.create_request(
        ctx, name=body.name, key_type=body.key, subject=subject_of(body)
    )


@router.delete(
    "/requests/{id}",
    response_model=DeletedRequestOut,
    summary="Delete a request",
    responses=errors(403, 404, 422),
)
async def delete_request(id: Id, caller: Admin) -> dict[str, Any]:
    """A pending request's private key is deleted with it."""
    view = await run_in_threadpool(requests.delete, caller.ctx, str(id))
    return {"id": view.id, "name": view.name, "status": view.status}
