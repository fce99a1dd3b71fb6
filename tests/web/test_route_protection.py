"""Every route is protected, and a new route without protection fails here.

The route table is crawled, not listed by hand: a route is either in
`auth.PUBLIC_PATHS` or depends (directly or through other dependencies) on
an `auth.Guard`, and the guard suits the route (API guards on /api, page
guards on /appliance, CSRF on every page that changes something, admins for
every API change). Then each route is called for real: without credentials,
with an expired session, with a revoked token, as an auditor on admin routes,
and with a missing or forged CSRF token on every page form.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, cast

import fastapi.routing
import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.dependencies.models import Dependant
from starlette.routing import Mount

from certdesk.pki.keys import KeyType
from certdesk.pki.names import check_subject
from certdesk.services import requests, sessions, tokens
from certdesk.services.accounts import Role
from certdesk.services.context import Context
from certdesk.web.auth import (
    PUBLIC_PATHS,
    SESSION_COOKIE,
    Caller,
    Guard,
    Surface,
    api_reader,
    page_reader,
)
from certdesk.web.config import WebConfig
from certdesk.web.site import https_app
from tests.conftest import FakeClock
from tests.webtools import Client, Site, running_site

LOGIN = "/appliance/login"

# The one API change an auditor may ask for: an export, refused by the route
# itself when it would hold a private key (tests/web/test_api.py).
READER_CHANGES = {("POST", "/api/v1/certificates/{id}/export")}


@dataclass(frozen=True)
class Crawled:
    """One method of one route, and the guard it declares (None: public)."""

    method: str
    path: str
    kind: str
    guard: Guard | None

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def changes(self) -> bool:
        return self.method not in ("GET", "HEAD")


def guards_of(dependant: Dependant) -> list[Guard]:
    """Every Guard a route depends on, however deep in its dependencies."""
    found = []
    for dependency in dependant.dependencies:
        if isinstance(dependency.call, Guard):
            found.append(dependency.call)
        found += guards_of(dependency)
    return found


def route_table(app: FastAPI) -> Iterator[Any]:
    """The routes as served, with included routers' prefixes and dependencies.

    FastAPI 0.165 keeps included routers as lazy entries; `iter_route_contexts`
    yields the effective routes. Earlier versions list them directly.
    """
    contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    if contexts is None:
        yield from app.routes
    else:
        yield from contexts(app.routes)


def crawl(app: FastAPI) -> list[Crawled]:
    found = []
    for route in route_table(app):
        original = getattr(route, "original_route", route)
        path = str(route.path)
        if isinstance(original, Mount):
            found.append(Crawled("GET", path, "mount", None))
            continue
        dependant = getattr(route, "dependant", None)
        guards = guards_of(dependant) if isinstance(dependant, Dependant) else []
        for method in sorted(route.methods or ()):
            guard = guards[0] if guards else None
            found.append(Crawled(method, path, type(original).__name__, guard))
    return found


# Crawled once at collection, from an app whose context is never used.
ROUTES = crawl(https_app(WebConfig(cast(Context, None))))
GUARDED = [r for r in ROUTES if r.path not in PUBLIC_PATHS]
API_ROUTES = [r for r in GUARDED if r.path.startswith("/api/")]
PAGE_ROUTES = [r for r in GUARDED if r.path.startswith("/appliance")]


def test_the_crawl_sees_both_surfaces() -> None:
    assert len(API_ROUTES) >= 20
    assert any(r.path == "/appliance/status" for r in PAGE_ROUTES)
    assert any(r.kind == "mount" for r in ROUTES)


def unguarded(routes: list[Crawled]) -> list[str]:
    return [str(r) for r in routes if r.path not in PUBLIC_PATHS and not r.guard]


def misplaced(routes: list[Crawled]) -> list[str]:
    """Guards on the wrong surface: a session must never open the API (it has
    no CSRF defence there), nor a token a page."""
    wrong = []
    for r in routes:
        if r.guard is None:
            continue
        api = r.path.startswith("/api/")
        surface = Surface.API if api else Surface.PAGES
        if r.guard.surface is not surface or not (
            api or r.path.startswith("/appliance")
        ):
            wrong.append(str(r))
    return wrong


def forms_without_csrf(routes: list[Crawled]) -> list[str]:
    return [
        str(r)
        for r in routes
        if r.changes
        and r.guard
        and r.guard.surface is Surface.PAGES
        and not r.guard.csrf
    ]


def auditor_changes(routes: list[Crawled]) -> list[str]:
    return [
        str(r)
        for r in routes
        if r.changes
        and r.guard
        and r.guard.surface is Surface.API
        and r.guard.role is not Role.ADMIN
        and (r.method, r.path) not in READER_CHANGES
    ]


def test_every_route_is_public_or_guarded_and_suitably() -> None:
    assert unguarded(ROUTES) == [], "add a Guard (web/auth.py) or a PUBLIC_PATHS entry"
    assert misplaced(ROUTES) == []
    assert forms_without_csrf(ROUTES) == [], "pages that change something check CSRF"
    assert auditor_changes(ROUTES) == [], "auditors change nothing: use api_admin"


def test_the_crawl_catches_a_new_careless_route() -> None:
    app = https_app(WebConfig(cast(Context, None)))
    extra = APIRouter()

    @extra.get("/api/v1/leak")
    async def leak() -> None: ...

    @extra.post("/api/v1/change")
    async def change(_: Annotated[Caller, Depends(api_reader)]) -> None: ...

    @extra.post("/appliance/change")
    async def page_change(_: Annotated[Caller, Depends(page_reader)]) -> None: ...

    @extra.get("/api/v1/by-cookie")
    async def by_cookie(_: Annotated[Caller, Depends(page_reader)]) -> None: ...

    app.include_router(extra)
    routes = crawl(app)

    assert unguarded(routes) == ["GET /api/v1/leak"]
    assert auditor_changes(routes) == ["POST /api/v1/change"]
    assert forms_without_csrf(routes) == ["POST /appliance/change"]
    assert misplaced(routes) == ["GET /api/v1/by-cookie"]


# --- Calling every route -------------------------------------------------------


@dataclass(frozen=True)
class Objects:
    """Ids and names of stored objects, to fill path parameters with."""

    certificate: int
    request: int
    token: int
    username: str


@pytest.fixture
def site(ctx: Context, clock: FakeClock) -> Iterator[Site]:
    with running_site(ctx, clock) as running:
        yield running


@pytest.fixture
def objects(site: Site) -> Objects:
    subject = check_subject(common_name="guarded.example.test")
    request = requests.create_request(
        site.ctx, name="Guarded", key_type=KeyType.P256, subject=subject
    )
    token_id, _ = site.token(Role.AUDITOR, "listed")
    return Objects(1, request.view.id, token_id, site.user(Role.AUDITOR, "listed"))


_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


def url_for(route: Crawled, objects: Objects) -> str:
    """The route's path with every parameter naming an existing object."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        before = route.path[: match.start()].rstrip("/").rsplit("/", 1)[-1]
        by_name = {
            "cert_id": objects.certificate,
            "certificate_id": objects.certificate,
            "request_id": objects.request,
            "token_id": objects.token,
            "username": objects.username,
        }
        by_place = {
            "certificates": objects.certificate,
            "requests": objects.request,
            "tokens": objects.token,
            "users": objects.username,
        }
        filled = by_name.get(name, by_place.get(before) if name == "id" else None)
        assert filled is not None, f"{route}: say which object {{{name}}} names"
        return str(filled)

    return _PARAM.sub(value, route.path)


def call(
    client: Client, route: Crawled, objects: Objects, **kwargs: Any
) -> httpx.Response:
    return client.request(route.method, url_for(route, objects), **kwargs)


def answers(routes: list[Crawled], expect: Any, respond: Any) -> list[str]:
    """The routes whose answer `expect` refuses, each with what came back."""
    wrong = []
    for route in routes:
        response = respond(route)
        if not expect(route, response):
            wrong.append(f"{route} -> {response.status_code} {response.text[:120]}")
    return wrong


def sent_to_login(route: Crawled, response: httpx.Response) -> bool:
    return response.status_code == 303 and response.headers["location"].startswith(
        f"{LOGIN}?next="
    )


def unauthorised(route: Crawled, response: httpx.Response) -> bool:
    return (
        response.status_code == 401
        and response.headers.get("www-authenticate") == "Bearer"
        and response.json()["status"] == 401
    )


def forbidden(route: Crawled, response: httpx.Response) -> bool:
    return response.status_code == 403


def test_strangers_are_refused_everywhere(site: Site, objects: Objects) -> None:
    stranger = site.anonymous()
    wrong = answers(
        PAGE_ROUTES, sent_to_login, lambda r: call(stranger, r, objects)
    ) + answers(API_ROUTES, unauthorised, lambda r: call(stranger, r, objects))
    assert wrong == []


def test_public_routes_answer_strangers(site: Site) -> None:
    stranger = site.anonymous()
    for path in ("/", LOGIN, "/api/v1/openapi.json", "/api/v1/docs"):
        assert stranger.get(path).status_code == 200, path
    assert stranger.get("/appliance/static/style.css").status_code == 200


def test_an_expired_session_opens_nothing(
    site: Site, objects: Objects, clock: FakeClock
) -> None:
    username = site.user(Role.ADMIN)
    idle = site.config.session_policy.idle

    def expired(route: Crawled) -> httpx.Response:
        secret = sessions.start_session(site.ctx, username)
        clock.advance(seconds=idle.total_seconds() + 60)
        browser = Client(site, cookies={SESSION_COOKIE: secret})
        return call(browser, route, objects)

    assert answers(PAGE_ROUTES, sent_to_login, expired) == []


def test_a_session_never_opens_the_api(site: Site, objects: Objects) -> None:
    browser = site.browser(Role.ADMIN)
    assert (
        answers(API_ROUTES, unauthorised, lambda r: call(browser.client, r, objects))
        == []
    )


def test_a_revoked_token_opens_nothing(site: Site, objects: Objects) -> None:
    token_id, secret = site.token(Role.ADMIN)
    tokens.revoke_token(site.ctx, str(token_id))
    script = site.bearer(secret)
    assert answers(API_ROUTES, unauthorised, lambda r: call(script, r, objects)) == []


def test_auditors_are_refused_every_admin_route(site: Site, objects: Objects) -> None:
    def admin_only(routes: list[Crawled]) -> list[Crawled]:
        return [r for r in routes if r.guard and r.guard.role is Role.ADMIN]

    script = site.api(Role.AUDITOR)
    browser = site.browser(Role.AUDITOR)
    csrf = {"csrf": browser.csrf}
    wrong = answers(
        admin_only(API_ROUTES), forbidden, lambda r: call(script, r, objects)
    ) + answers(
        admin_only(PAGE_ROUTES),
        forbidden,
        lambda r: call(browser.client, r, objects, data=csrf if r.changes else None),
    )
    assert wrong == []
    assert admin_only(API_ROUTES) and admin_only(PAGE_ROUTES)


@pytest.mark.parametrize("csrf", [None, "forged", ""])
def test_page_forms_need_their_csrf_token(
    site: Site, objects: Objects, csrf: str | None
) -> None:
    browser = site.browser(Role.ADMIN)
    forged = sessions.csrf_token_for("another session's secret")
    form = {} if csrf is None else {"csrf": forged if csrf == "forged" else csrf}
    forms = [r for r in PAGE_ROUTES if r.changes]
    assert forms
    assert (
        answers(forms, forbidden, lambda r: call(browser.client, r, objects, data=form))
        == []
    )


def test_the_same_callers_get_in_with_the_right_role(
    site: Site, objects: Objects
) -> None:
    """The refusals above are the guards' doing: with good credentials, every
    page and API read is answered."""
    browser = site.browser(Role.ADMIN)
    script = site.api(Role.ADMIN)
    reads = [r for r in GUARDED if not r.changes]

    def answered(route: Crawled, response: httpx.Response) -> bool:
        return response.status_code in (200, 303) and not sent_to_login(route, response)

    def respond(route: Crawled) -> httpx.Response:
        client = script if route in API_ROUTES else browser.client
        return call(client, route, objects)

    assert answers(reads, answered, respond) == []
