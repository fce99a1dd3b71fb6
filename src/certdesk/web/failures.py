"""Turning exceptions into answers, the same way for every route.

The status comes from `errors.STATUS` for pages and API alike; the API
answers JSON, a page answers HTML (or sends a stranger to the sign-in page).
This is the edge: an unexpected exception is logged here, once.
"""

from urllib.parse import quote

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from certdesk.errors import CertdeskError, NotSignedIn
from certdesk.web.auth import SESSION_COOKIE, PasswordChangeRequired
from certdesk.web.errors import Problem, internal_problem, problem_for
from certdesk.web.pages.templating import render_problem

LOGIN = "/appliance/login"
# Where FastAPI found a value; the field is what follows.
_WHERE = frozenset({"body", "query", "path", "header", "cookie"})


def install(app: FastAPI) -> None:
    app.add_exception_handler(CertdeskError, _domain)
    app.add_exception_handler(PasswordChangeRequired, _password_first)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(RequestValidationError, _validation)


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def answer(request: Request, problem: Problem) -> Response:
    if is_api(request):
        headers = problem.headers()
        if problem.status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        return JSONResponse(problem.as_json(), problem.status, headers=headers)
    return render_problem(request, problem)


def to_login(request: Request) -> Response:
    target = request.url.path
    if request.url.query:
        target += f"?{request.url.query}"
    return RedirectResponse(f"{LOGIN}?next={quote(target, safe='')}", 303)


async def _domain(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CertdeskError)
    if isinstance(exc, NotSignedIn) and not is_api(request):
        return to_login(request)
    return answer(request, problem_for(exc))


async def _password_first(request: Request, exc: Exception) -> Response:
    return RedirectResponse("/appliance/password", 303)


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if (
        not is_api(request)
        and request.url.path.startswith("/appliance")
        and SESSION_COOKIE not in request.cookies
    ):
        # Strangers learn nothing about which pages exist.
        return to_login(request)
    messages = {
        404: "there is nothing at this address",
        405: f"{request.method} is not allowed here",
    }
    message = messages.get(exc.status_code, str(exc.detail))
    return answer(request, Problem(exc.status_code, message))


async def _validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    loc = list(first.get("loc", ()))
    if loc and loc[0] in _WHERE:
        loc = loc[1:]
    field = ".".join(str(p) for p in loc) or None
    reason = str(first.get("msg", "is not valid"))
    if first.get("type") == "json_invalid":
        # The location is an offset into the text, not a field.
        field, reason = None, "the body is not valid JSON"
    message = f"{field}: {reason}" if field else reason
    return answer(request, Problem(422, message, field))


class CatchAll:
    """The last stop for a bug: log it once and answer 500 with no details.

    Starlette's own last-resort handler re-raises after answering, so the
    server would log the traceback a second time; this one does not.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            request = Request(scope)
            problem = internal_problem(exc, request.url.path)
            if not started:
                await answer(request, problem)(scope, receive, send)
