"""Signing in and out, and replacing a one-time password."""

import dataclasses
import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from certdesk.errors import InvalidInput, LoginRefused
from certdesk.services import accounts, sessions
from certdesk.web.auth import CSRF_FIELD, SESSION_COOKIE, Caller, page_form, page_reader
from certdesk.web.config import WebConfig
from certdesk.web.errors import problem_for
from certdesk.web.pages.forms import text
from certdesk.web.pages.templating import render

router = APIRouter(include_in_schema=False)

# The sign-in form has no session to bind its CSRF token to, so the token is
# a random value held in a cookie only the sign-in page receives.
LOGIN_CSRF_COOKIE = "certdesk_login"
HOME = "/appliance/status"


@router.get("/appliance/login")
async def login_form(request: Request) -> Response:
    config: WebConfig = request.app.state.config
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        found = await run_in_threadpool(
            sessions.resolve, config.ctx, secret, config.session_policy
        )
        if found is not None:
            return RedirectResponse(_safe_next(request.query_params.get("next")), 303)
    return _login_page(request, next_page=request.query_params.get("next", ""))


@router.post("/appliance/login")
async def login(request: Request) -> Response:
    config: WebConfig = request.app.state.config
    form = await request.form()
    username = text(form, "username")
    next_page = text(form, "next")
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    submitted = text(form, CSRF_FIELD).encode(errors="replace")
    # As bytes: compare_digest raises on non-ASCII text, which anyone can send.
    if not expected or not hmac.compare_digest(expected.encode(), submitted):
        return _login_page(
            request,
            next_page=next_page,
            username=username,
            error="the sign-in form had expired; enter your password again",
            status=403,
        )

    # Before sign-in the only thing known of the caller is where it came from;
    # the throttle counts failures per (that address, user name).
    client = request.client.host if request.client else "unknown"
    visitor = dataclasses.replace(config.ctx, actor=f"web:{client}")
    try:
        user = await run_in_threadpool(
            lambda: accounts.log_in(
                visitor, username, text(form, "password"), client=f"web:{client}"
            )
        )
    except LoginRefused as exc:
        problem = problem_for(exc)
        response = _login_page(
            request,
            next_page=next_page,
            username=username,
            error=problem.message,
            status=problem.status,
        )
        response.headers.update(problem.headers())
        return response

    secret = await run_in_threadpool(sessions.start_session, visitor, user.username)
    target = "/appliance/password" if user.must_change_password else next_page
    response = _with_session(RedirectResponse(_safe_next(target), 303), secret)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/appliance/login")
    return response


@router.post("/appliance/logout")
async def logout(
    request: Request, caller: Annotated[Caller, Depends(page_form)]
) -> Response:
    assert caller.session_secret is not None
    await run_in_threadpool(sessions.end_session, caller.ctx, caller.session_secret)
    response = RedirectResponse("/appliance/login", 303)
    response.delete_cookie(SESSION_COOKIE, path="/appliance")
    return response


@router.get("/appliance/password")
async def password_form(
    request: Request, caller: Annotated[Caller, Depends(page_reader)]
) -> Response:
    return await _password_page(request, caller, {})


@router.post("/appliance/password")
async def change_password(
    request: Request, caller: Annotated[Caller, Depends(page_form)]
) -> Response:
    form = await request.form()
    current, new = text(form, "current"), text(form, "new")
    if new != text(form, "repeat"):
        errors = {"repeat": "the two new passwords differ"}
        return await _password_page(request, caller, errors, status=422)

    try:
        username = caller.principal.username
        await run_in_threadpool(
            lambda: accounts.change_password(
                caller.ctx,
                username,
                current,
                new,
                client=accounts.session_client(username),
            )
        )
    except LoginRefused as exc:
        errors = {"current": problem_for(exc).message}
        return await _password_page(request, caller, errors, status=422)
    except InvalidInput as exc:
        errors = {exc.field: exc.reason}
        return await _password_page(request, caller, errors, status=422)
    # The change ended every session of the user, this one too: a new secret.
    secret = await run_in_threadpool(
        sessions.start_session, caller.ctx, caller.principal.username
    )
    done = RedirectResponse(f"{HOME}?notice=password-changed", 303)
    return _with_session(done, secret)


@router.get("/appliance")
async def appliance_home(caller: Annotated[Caller, Depends(page_reader)]) -> Response:
    return RedirectResponse(HOME, 303)


def _with_session(response: Response, secret: str) -> Response:
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        secure=True,
        httponly=True,
        samesite="strict",
        path="/appliance",
    )
    return response


def _login_page(
    request: Request,
    *,
    next_page: str,
    username: str = "",
    error: str | None = None,
    status: int = 200,
) -> Response:
    token = secrets.token_urlsafe(32)
    response = render(
        request,
        "login.html",
        None,
        status=status,
        login_csrf=token,
        next=next_page,
        username=username,
        error=error,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        secure=True,
        httponly=True,
        samesite="strict",
        path="/appliance/login",
    )
    return response


async def _password_page(
    request: Request, caller: Caller, errors: dict[str, str], *, status: int = 200
) -> Response:
    user = await run_in_threadpool(
        accounts.get_user, caller.ctx, caller.principal.username
    )
    return render(
        request,
        "password.html",
        caller,
        status=status,
        errors=errors,
        must_change=user.must_change_password,
        min_length=accounts.MIN_PASSWORD,
    )


def _safe_next(target: str | None) -> str:
    """Only a page of this appliance: never an open redirect elsewhere."""
    if (
        target
        and target.startswith("/appliance/")
        and not target.startswith("//")
        and "\\" not in target
        and not target.startswith("/appliance/login")
    ):
        return target
    return HOME
