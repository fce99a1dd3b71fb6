"""The two applications `certdesk serve` runs: HTTPS (the site) and HTTP.

HTTP answers ACME HTTP-01 challenges from the store and sends everything else
to HTTPS with a permanent redirect. HTTPS serves the landing page, the
administrators' pages under /appliance and the REST API under /api/v1, and
always sends HSTS.
"""

import html
import socket

from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from certdesk import __version__
from certdesk.services import serving
from certdesk.services.context import Context
from certdesk.web import api, failures, pages
from certdesk.web.config import WebConfig
from certdesk.web.limits import BodyLimit

HSTS = "max-age=31536000"
# The landing page links to the sign-in page and needs nothing else.
LANDING_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"

API_DESCRIPTION = """Everything the /appliance pages do, as JSON.

Authenticate with an API token (`certdesk token create --role admin|auditor`)
sent as `Authorization: Bearer <token>`. Auditor tokens read everything but
private keys and change nothing. Errors are `{"error": message, "status": n}`,
with `field` naming the input at fault when there is one.
"""


def https_app(config: WebConfig) -> FastAPI:
    """The site: landing page, /appliance pages, /api/v1, with HSTS and a body cap."""
    app = FastAPI(
        title="certdesk API",
        version=__version__,
        description=API_DESCRIPTION,
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
        middleware=[
            Middleware(StrictTransport),
            Middleware(BodyLimit, max_bytes=config.max_upload_bytes),
            Middleware(failures.CatchAll),
        ],
    )
    app.state.config = config

    @app.get("/", include_in_schema=False)
    async def landing(request: Request) -> Response:
        host = html.escape(request.url.hostname or socket.gethostname())
        body = (
            "<!doctype html><html lang=en><head><meta charset=utf-8>"
            "<meta name=viewport content='width=device-width,initial-scale=1'>"
            f"<title>{host}</title></head><body>"
            f"<h1>{host}</h1><p>This site's TLS is served by certdesk "
            f"{html.escape(__version__)}. Administrators sign in at "
            "<a href='/appliance/login'>/appliance</a>.</p></body></html>"
        )
        return HTMLResponse(body, headers={"Content-Security-Policy": LANDING_CSP})

    app.include_router(pages.router)
    app.include_router(api.router)
    app.mount(
        "/appliance/static",
        StaticFiles(packages=[("certdesk.web", "static")]),
        name="static",
    )
    failures.install(app)
    return app


class StrictTransport:
    """Adds HSTS and nosniff to every HTTPS response, errors and 404s included,
    and no-store to the API's: its answers carry one-time passwords, token
    secrets and exports, and no cache on the way may keep them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        api = scope["path"].startswith("/api/")

        async def send_with_hsts(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Strict-Transport-Security"] = HSTS
                headers.setdefault("X-Content-Type-Options", "nosniff")
                if api:
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_hsts)


def http_app(ctx: Context, https_port: int) -> Starlette:
    async def challenge(request: Request) -> Response:
        token = request.path_params["token"]
        answer = serving.challenge_answer(ctx, token)
        if answer is None:
            return PlainTextResponse("unknown challenge token\n", status_code=404)
        return PlainTextResponse(answer)

    async def to_https(request: Request) -> Response:
        host = request.url.hostname or socket.gethostname()
        if ":" in host:
            host = f"[{host}]"
        port = "" if https_port == 443 else f":{https_port}"
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(
            f"https://{host}{port}{request.url.path}{query}", status_code=301
        )

    return Starlette(
        routes=[
            Route("/.well-known/acme-challenge/{token}", challenge),
            Route("/{path:path}", to_https, methods=["GET", "HEAD", "POST", "PUT"]),
        ]
    )
