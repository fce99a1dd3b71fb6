"""Accounts for the web interface: admins only, even to read the list."""

from typing import Annotated, Any

from fastapi import APIRouter, Path
from starlette.concurrency import run_in_threadpool

from certdesk.services import accounts
from certdesk.web.api.common import Admin, errors
from certdesk.web.api.models import EmailIn, UserIn, UserOut, UserWithPasswordOut

router = APIRouter(tags=["users"])

Username = Annotated[
    str,
    Path(
        pattern=r"^[A-Za-z0-9._-]{1,64}$",
        description="The user name (compared in lower case).",
    ),
]


@router.get(
    "/users",
    response_model=list[UserOut],
    summary="List users",
    responses=errors(403),
)
async def list_users(caller: Admin) -> list[dict[str, Any]]:
    """Every account, with its role, state and last sign-in."""
    views = await run_in_threadpool(accounts.list_users, caller.ctx)
    return [v.as_json() for v in views]


@router.get(
    "/users/{username}",
    response_model=UserOut,
    summary="Show a user",
    responses=errors(403, 404, 422),
)
async def show_user(username: Username, caller: Admin) -> dict[str, Any]:
    view = await run_in_threadpool(accounts.get_user, caller.ctx, username)
    return view.as_json()


@router.post(
    "/users",
    response_model=UserWithPasswordOut,
    status_code=201,
    summary="Add a user",
    responses=errors(400, 403, 409, 413, 422),
)
async def add_user(body: UserIn, caller: Admin) -> dict[str, Any]:
    """The account gets a one-time password, answered here once: the user
    replaces it at first sign-in. Nobody chooses another's password."""
    view, password = await run_in_threadpool(
        lambda: accounts.add_user(
            caller.ctx, body.username, role=body.role, email=body.email
        )
    )
    assert password is not None
    return {**view.as_json(), "one_time_password": password}


@router.post(
    "/users/{username}/disable",
    response_model=UserOut,
    summary="Disable a user",
    responses=errors(403, 404, 409, 422),
)
async def disable_user(username: Username, caller: Admin) -> dict[str, Any]:
    """Sign-ins are refused and the user's sessions end; nothing is deleted.
    The last enabled admin cannot be disabled."""
    view = await run_in_threadpool(accounts.disable_user, caller.ctx, username)
    return view.as_json()


@router.post(
    "/users/{username}/enable",
    response_model=UserOut,
    summary="Enable a user",
    responses=errors(403, 404, 422),
)
async def enable_user(username: Username, caller: Admin) -> dict[str, Any]:
    view = await run_in_threadpool(accounts.enable_user, caller.ctx, username)
    return view.as_json()


@router.post(
    "/users/{username}/reset-password",
    response_model=UserWithPasswordOut,
    summary="Reset a user's password",
    responses=errors(403, 404, 422),
)
async def reset_password(username: Username, caller: Admin) -> dict[str, Any]:
    """A new one-time password, answered once; the lock after failed sign-ins
    is lifted and every session of the user ends."""
    password = await run_in_threadpool(accounts.reset_password, caller.ctx, username)
    view = await run_in_threadpool(accounts.get_user, caller.ctx, username)
    return {**view.as_json(), "one_time_password": password}


@router.put(
    "/users/{username}/email",
    response_model=UserOut,
    summary="Set a user's email address",
    responses=errors(400, 403, 404, 413, 422),
)
async def set_email(username: Username, body: EmailIn, caller: Admin) -> dict[str, Any]:
    """Where alerts for this user go; null removes it."""
    view = await run_in_threadpool(accounts.set_email, caller.ctx, username, body.email)
    return view.as_json()
