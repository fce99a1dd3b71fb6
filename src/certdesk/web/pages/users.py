"""Users (admins only): add, disable and enable, reset a password, set email.

A one-time password is shown once, in the answer to the form that made it:
it never goes into a redirect's URL or a cookie, and no later page can show
it again.
"""

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from certdesk.errors import CertdeskError, InvalidInput
from certdesk.services import accounts
from certdesk.services.accounts import Role
from certdesk.web.auth import Caller, page_admin, page_admin_form
from certdesk.web.errors import problem_for
from certdesk.web.pages import flash
from certdesk.web.pages.flash import Flash
from certdesk.web.pages.forms import text
from certdesk.web.pages.templating import render

router = APIRouter(include_in_schema=False)

USERS = "/appliance/users"
USER = USERS + "/{username}"


@router.get(USERS)
async def users_page(
    request: Request, caller: Annotated[Caller, Depends(page_admin)]
) -> Response:
    return await _users_page(request, caller)


@router.post(USERS)
async def add_user(
    request: Request, caller: Annotated[Caller, Depends(page_admin_form)]
) -> Response:
    form = await request.form()
    entered = {k: text(form, k) for k in ("username", "role", "email")}
    try:
        role = _role(entered["role"])
        user, password = await run_in_threadpool(
            lambda: accounts.add_user(
                caller.ctx,
                entered["username"],
                role=role,
                email=entered["email"] or None,
            )
        )
    except InvalidInput as exc:
        errors = {exc.field: exc.reason}
        return await _users_page(request, caller, entered, errors, status=422)
    except CertdeskError as exc:
        errors = {"username": problem_for(exc).message}
        return await _users_page(request, caller, entered, errors, status=409)
    return _one_time(request, caller, user, password, "added")


@router.post(USER + "/reset-password")
async def reset_password(
    request: Request, username: str, caller: Annotated[Caller, Depends(page_admin_form)]
) -> Response:
    password = await run_in_threadpool(accounts.reset_password, caller.ctx, username)
    user = await run_in_threadpool(accounts.get_user, caller.ctx, username)
    return _one_time(request, caller, user, password, "reset")


@router.post(USER + "/disable")
async def disable(
    request: Request, username: str, caller: Annotated[Caller, Depends(page_admin_form)]
) -> Response:
    try:
        user = await run_in_threadpool(accounts.disable_user, caller.ctx, username)
    except CertdeskError as exc:
        return flash.redirect(request, USERS, Flash(errors=[problem_for(exc).message]))
    notice = (
        f"{user.username} is disabled: they cannot sign in, and their sessions ended."
    )
    return flash.redirect(request, USERS, Flash(notice))


@router.post(USER + "/enable")
async def enable(
    request: Request, username: str, caller: Annotated[Caller, Depends(page_admin_form)]
) -> Response:
    user = await run_in_threadpool(accounts.enable_user, caller.ctx, username)
    return flash.redirect(request, USERS, Flash(f"{user.username} can sign in again."))


@router.post(USER + "/email")
async def set_email(
    request: Request, username: str, caller: Annotated[Caller, Depends(page_admin_form)]
) -> Response:
    form = await request.form()
    try:
        user = await run_in_threadpool(
            accounts.set_email, caller.ctx, username, text(form, "email") or None
        )
    except InvalidInput as exc:
        errors = {f"email-{username}": exc.reason}
        return await _users_page(request, caller, errors=errors, status=422)
    if user.email:
        notice = f"The email address of {user.username} is now {user.email}."
    else:
        notice = f"{user.username} has no email address now."
    return flash.redirect(request, USERS, Flash(notice))


async def _users_page(
    request: Request,
    caller: Caller,
    entered: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    *,
    status: int = 200,
) -> Response:
    users = await run_in_threadpool(accounts.list_users, caller.ctx)
    return flash.render_page(
        request,
        "users.html",
        caller,
        status=status,
        users=users,
        entered=entered or {"role": str(Role.AUDITOR)},
        errors=errors or {},
        add_errors={
            k: v for k, v in (errors or {}).items() if not k.startswith("email-")
        },
        roles=list(Role),
    )


def _one_time(
    request: Request,
    caller: Caller,
    user: accounts.UserView,
    password: str | None,
    what: str,
) -> Response:
    return render(
        request,
        "one_time_password.html",
        caller,
        user=user,
        password=password,
        what=what,
    )


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise InvalidInput("role", "choose admin or auditor") from None
