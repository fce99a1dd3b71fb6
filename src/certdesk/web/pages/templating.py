"""Rendering pages: one Jinja2 environment, autoescaped, from the package.

Every page gets the caller (for the menu and the CSRF field) and the
version; pages never build HTML by string concatenation.
"""

import datetime as dt
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from certdesk import __version__
from certdesk.web.auth import CSRF_FIELD, Caller
from certdesk.web.errors import Problem

_env = Environment(
    loader=PackageLoader("certdesk.web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(value: dt.datetime | str | None) -> str:
    if value is None:
        return "never"
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


_env.filters["when"] = _when


def render(
    request: Request,
    template: str,
    caller: Caller | None,
    *,
    status: int = 200,
    **values: Any,
) -> HTMLResponse:
    page = _env.get_template(template).render(
        request=request,
        caller=caller,
        principal=caller.principal if caller else None,
        csrf_field=CSRF_FIELD,
        csrf_token=caller.csrf_token if caller else "",
        version=__version__,
        path=request.url.path,
        **values,
    )
    return HTMLResponse(page, status_code=status, headers=NO_STORE)


def render_problem(request: Request, problem: Problem) -> HTMLResponse:
    """An error page; the menu is left out, since the caller may be unknown."""
    return render(request, "problem.html", None, status=problem.status, problem=problem)


# Pages show certificate details and one-time secrets: keep them out of caches.
NO_STORE = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
