"""API tokens: admins only. A secret is answered once, when it is made."""

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from certdesk.services import tokens
from certdesk.web.api.common import Admin, Id, errors
from certdesk.web.api.models import TokenIn, TokenOut, TokenWithSecretOut

router = APIRouter(tags=["tokens"])


@router.get(
    "/tokens",
    response_model=list[TokenOut],
    summary="List API tokens",
    responses=errors(403),
)
async def list_tokens(caller: Admin) -> list[dict[str, Any]]:
    """Every token, revoked ones too, so the audit trail's names stay explained."""
    views = await run_in_threadpool(tokens.list_tokens, caller.ctx)
    return [v.as_json() for v in views]


@router.post(
    "/tokens",
    response_model=TokenWithSecretOut,
    status_code=201,
    summary="Create an API token",
    responses=errors(400, 403, 409, 413, 422),
)
async def create_token(body: TokenIn, caller: Admin) -> dict[str, Any]:
    """The token acts with its own role; only its SHA-256 is stored, so the
    secret in this answer cannot be shown again."""
    view, secret = await run_in_threadpool(
        lambda: tokens.create_token(caller.ctx, body.name, role=body.role)
    )
    return {**view.as_json(), "token": secret}


@router.delete(
    "/tokens/{id}",
    response_model=TokenOut,
    summary="Revoke an API token",
    responses=errors(403, 404, 422),
)
async def revoke_token(id: Id, caller: Admin) -> dict[str, Any]:
    """Refused from now on; it stays listed. Revoking twice changes nothing."""
    view = await run_in_threadpool(tokens.revoke_token, caller.ctx, str(id))
    return view.as_json()
