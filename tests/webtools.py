"""The HTTPS application in-process, and the people and scripts that call it.

Tests build the site exactly as `serve` does, from a `WebConfig`, and reach it
through httpx's ASGI transport at https://testserver, so Secure cookies are
sent as a browser would send them. Tokens, accounts and sessions are made
through the services, the way `certdesk token create` and the sign-in page
make them; a test then sees only HTTP.
"""

import asyncio
import contextlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI

from certdesk.services import accounts, sessions, tokens
from certdesk.services.accounts import Role
from certdesk.services.context import Context
from certdesk.web.auth import SESSION_COOKIE
from certdesk.web.config import WebConfig
from certdesk.web.site import https_app
from tests.conftest import FakeClock

BASE_URL = "https://testserver"
# Long enough for the password rules; only ever sent in a sign-in form body.
PASSWORD = "a long test password"

_names = itertools.count(1)


class Client:
    """A synchronous face on `httpx.AsyncClient`, run on the site's loop.

    Every response is kept in `seen`, so a test can look through all the
    answers it was given for something that must never be in one.
    """

    def __init__(
        self,
        site: "Site",
        *,
        headers: dict[str, str] | None = None,
        cookies: dict[str, str] | None = None,
        address: str = "127.0.0.1",
    ) -> None:
        self.site = site
        # `address` is the client address the server sees (request.client).
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=site.app, client=(address, 50000)),
            base_url=BASE_URL,
            headers=headers,
            cookies=cookies,
            follow_redirects=False,
        )
        site.clients.append(self)

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = self.site.loop.run_until_complete(
            self._client.request(method, url, **kwargs)
        )
        self.site.seen.append(response)
        return response

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)

    def close(self) -> None:
        self.site.loop.run_until_complete(self._client.aclose())


@dataclass(frozen=True)
class Browser:
    """A signed-in browser: its client (cookie set) and the forms' CSRF token."""

    client: Client
    username: str
    secret: str

    @property
    def csrf(self) -> str:
        return sessions.csrf_token_for(self.secret)


@dataclass
class Site:
    ctx: Context
    clock: FakeClock
    config: WebConfig
    app: FastAPI
    loop: asyncio.AbstractEventLoop
    clients: list[Client] = field(default_factory=list)
    seen: list[httpx.Response] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)

    def anonymous(self, address: str = "127.0.0.1") -> Client:
        """A browser that has not signed in, connecting from `address`."""
        return Client(self, address=address)

    def token(self, role: Role, name: str | None = None) -> tuple[int, str]:
        """A new API token's id and secret, made as `certdesk token create` does."""
        view, secret = tokens.create_token(
            self.ctx, name or f"{role}-{next(_names)}", role=role
        )
        self.secrets.append(secret)
        return view.id, secret

    def api(self, role: Role) -> Client:
        """A script holding a new token of `role`."""
        _, secret = self.token(role)
        return self.bearer(secret)

    def bearer(self, secret: str) -> Client:
        return Client(self, headers={"Authorization": f"Bearer {secret}"})

    def user(self, role: Role, username: str | None = None) -> str:
        """A new account whose password is `PASSWORD` (no change required)."""
        name = username or f"{role}{next(_names)}"
        accounts.add_user(self.ctx, name, role=role, password=PASSWORD)
        return name

    def browser(self, role: Role) -> Browser:
        """A browser in which a new user of `role` has just signed in."""
        username = self.user(role)
        secret = sessions.start_session(self.ctx, username)
        self.secrets.append(secret)
        client = Client(self, cookies={SESSION_COOKIE: secret})
        return Browser(client, username, secret)

    def close(self) -> None:
        for client in self.clients:
            client.close()
        self.loop.close()


@contextlib.contextmanager
def running_site(
    ctx: Context, clock: FakeClock, *, max_upload_bytes: int | None = None
) -> Iterator[Site]:
    """The site `serve` would run on `ctx`, on the test's clock."""
    config = (
        WebConfig(ctx)
        if max_upload_bytes is None
        else WebConfig(ctx, max_upload_bytes=max_upload_bytes)
    )
    site = Site(ctx, clock, config, https_app(config), asyncio.new_event_loop())
    try:
        yield site
    finally:
        site.close()
