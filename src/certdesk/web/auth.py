"""Who is calling, and may they: the guard every non-public route declares.

Pages authenticate by a session cookie and check a CSRF token on every form
that changes something; the API authenticates by a bearer token and needs no
CSRF token, since browsers never send one on their own. Each route names one
`Guard`; `tests/web/test_route_protection.py` walks the route table and fails
on a route that names none and is not listed in `PUBLIC_PATHS`.
"""

import dataclasses
from dataclasses import dataclass
from enum import StrEnum

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from certdesk.errors import Forbidden, NotSignedIn
from certdesk.services import sessions, tokens
from certdesk.services.accounts import Principal, Role
from certdesk.services.context import Context
from certdesk.web.config import WebConfig

SESSION_COOKIE = "certdesk_session"
CSRF_FIELD = "csrf"
PASSWORD_PAGE = "/appliance/password"  # noqa: S105 (a path, not a secret)
# What a user holding a one-time password may reach: replacing it, or leaving.
BEFORE_PASSWORD_CHANGE = frozenset({PASSWORD_PAGE, "/appliance/logout"})

# Routes anyone may call. Everything else must declare a Guard.
PUBLIC_PATHS = frozenset(
    {
        "/",
        "/appliance/login",
        "/api/v1/openapi.json",
        "/api/v1/docs",
        "/appliance/static",
    }
)


class Surface(StrEnum):
    PAGES = "pages"
    API = "api"


@dataclass(frozen=True)
class Caller:
    """A signed-in principal and the service context acting as them."""

    principal: Principal
    ctx: Context
    session_secret: str | None = None

    @property
    def csrf_token(self) -> str:
        if self.session_secret is None:
            return ""
        return sessions.csrf_token_for(self.session_secret)


class PasswordChangeRequired(Exception):
    """A page other than the password page, before a one-time password is replaced."""


@dataclass(frozen=True)
class Guard:
    """A FastAPI dependency: authenticates, checks the role, checks CSRF."""

    surface: Surface
    role: Role | None = None
    csrf: bool = False

    async def __call__(self, request: Request) -> Caller:
        config: WebConfig = request.app.state.config
        if self.surface is Surface.API:
            caller = await _bearer_caller(request, config)
        else:
            caller = await _session_caller(request, config)

        if self.role is Role.ADMIN and not caller.principal.is_admin:
            raise Forbidden(
                f"{caller.principal.username} is an auditor; this needs an admin"
            )

        if self.csrf:
            form = await request.form()
            submitted = form.get(CSRF_FIELD)
            secret = caller.session_secret or ""
            if not isinstance(submitted, str) or not sessions.csrf_matches(
                secret, submitted
            ):
                raise Forbidden(
                    "the form's security token is missing or wrong; "
                    "reload the page and submit it again"
                )
        return caller


async def _session_caller(request: Request, config: WebConfig) -> Caller:
    secret = request.cookies.get(SESSION_COOKIE)
    if not secret:
        raise NotSignedIn("sign in first")
    found = await run_in_threadpool(
        sessions.resolve, config.ctx, secret, config.session_policy
    )
    if found is None:
        raise NotSignedIn("your session has ended; sign in again")
    if (
        found.user.must_change_password
        and request.url.path not in BEFORE_PASSWORD_CHANGE
    ):
        raise PasswordChangeRequired
    ctx = dataclasses.replace(config.ctx, actor=found.principal.actor)
    return Caller(found.principal, ctx, secret)


async def _bearer_caller(request: Request, config: WebConfig) -> Caller:
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise NotSignedIn(
            "send an API token as 'Authorization: Bearer <token>' "
            "(create one with 'certdesk token create')"
        )
    principal = await run_in_threadpool(
        tokens.authenticate, config.ctx, credential.strip()
    )
    if principal is None:
        raise NotSignedIn("the API token is unknown or revoked")
    return Caller(principal, dataclasses.replace(config.ctx, actor=principal.actor))


page_reader = Guard(Surface.PAGES)
page_form = Guard(Surface.PAGES, csrf=True)
page_admin = Guard(Surface.PAGES, role=Role.ADMIN)
page_admin_form = Guard(Surface.PAGES, role=Role.ADMIN, csrf=True)
api_reader = Guard(Surface.API)
api_admin = Guard(Surface.API, role=Role.ADMIN)
