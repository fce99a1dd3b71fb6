"""A real `certdesk serve` and Debian's Chromium, shared by a module's tests.

Each module gets one server, on free loopback ports in its own data
directory, with an admin and an auditor whose passwords the tests know, and
one browser. Tests make the objects they look at, with names of their own,
so they pass in any order and on any xdist worker.
"""

import datetime as dt
import re
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    ViewportSize,
    sync_playwright,
)

from certdesk.cli.main import main
from certdesk.services import accounts, setup
from certdesk.services.accounts import Role
from certdesk.services.context import Context
from certdesk.store.datadir import DataDir
from tests.servetools import free_port, start_serve, stop_serve, wait_for_port

CHROMIUM = "/usr/bin/chromium"
ADMIN = "admin"
AUDITOR = "auditor"
ADMIN_PASSWORD = "admin password for tests"
AUDITOR_PASSWORD = "auditor password for tests"
LAPTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@dataclass
class Appliance:
    data_dir: Path
    https: int

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.https}"

    def services(self, actor: str = "test") -> "OpenStore":
        return OpenStore(self.data_dir, actor)

    def served(self, server_name: str | None) -> x509.Certificate:
        """The leaf a client gets in a real handshake for `server_name`."""
        client = ssl.create_default_context()
        client.check_hostname = False
        client.verify_mode = ssl.CERT_NONE
        with (
            socket.create_connection(("127.0.0.1", self.https), timeout=5) as raw,
            client.wrap_socket(raw, server_hostname=server_name) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
            assert der is not None
            return x509.load_der_x509_certificate(der)

    def wait_until_served(self, server_name: str | None, fingerprint: str) -> None:
        """The server polls the store; a change shows within about a second."""
        wanted = normalise(fingerprint)
        deadline = time.monotonic() + 5
        seen = ""
        while time.monotonic() < deadline:
            seen = sha256(self.served(server_name))
            if seen == wanted:
                return
            time.sleep(0.1)
        raise AssertionError(f"{server_name!r} still gets {seen}, not {wanted}")


class OpenStore:
    """The appliance's services, opened beside the running server."""

    def __init__(self, data_dir: Path, actor: str) -> None:
        self.data_dir = data_dir
        self.actor = actor

    def __enter__(self) -> Context:
        self.store = setup.open_store(DataDir(self.data_dir))
        return Context(self.store, actor=self.actor)

    def __exit__(self, *exc: object) -> None:
        self.store.close()


def sha256(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def normalise(fingerprint: str) -> str:
    """ "AB:CD:..." as the pages show it, to the lower-case hex of `sha256`."""
    return re.sub(r"[^0-9a-f]", "", fingerprint.lower())


@pytest.fixture(scope="module")
def appliance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Appliance]:
    data_dir = tmp_path_factory.mktemp("appliance") / "data"
    assert main(["--data-dir", str(data_dir), "init"]) == 0
    with OpenStore(data_dir, "test") as ctx:
        accounts.add_user(ctx, ADMIN, role=Role.ADMIN, password=ADMIN_PASSWORD)
        accounts.add_user(ctx, AUDITOR, role=Role.AUDITOR, password=AUDITOR_PASSWORD)

    https, http = free_port(), free_port()
    process = start_serve(data_dir, https, http, quiet=True)
    try:
        wait_for_port(https, process)
        yield Appliance(data_dir, https)
    finally:
        stop_serve(process)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium; the test command installs it, so it must be there."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install chromium"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox"]
        )
        yield launched
        launched.close()


@pytest.fixture
def visit(browser: Browser, appliance: Appliance) -> Iterator["Visitor"]:
    """Opens browser contexts (one per person) and closes them after the test."""
    visitor = Visitor(browser, appliance)
    yield visitor
    for context in visitor.contexts:
        context.close()


class Visitor:
    def __init__(self, browser: Browser, appliance: Appliance) -> None:
        self.browser = browser
        self.appliance = appliance
        self.contexts: list[BrowserContext] = []

    def page(
        self,
        *,
        javascript: bool = True,
        viewport: ViewportSize | None = None,
    ) -> Page:
        context = self.browser.new_context(
            base_url=self.appliance.url,
            ignore_https_errors=True,
            java_script_enabled=javascript,
            viewport=viewport or LAPTOP,
            accept_downloads=True,
            locale="en-GB",
            timezone_id="UTC",
        )
        context.set_default_timeout(10_000)
        self.contexts.append(context)
        return context.new_page()

    def signed_in(
        self,
        username: str = ADMIN,
        password: str = ADMIN_PASSWORD,
        *,
        javascript: bool = True,
        viewport: ViewportSize | None = None,
    ) -> Page:
        page = self.page(javascript=javascript, viewport=viewport)
        sign_in(page, username, password)
        return page


def sign_in(page: Page, username: str, password: str) -> None:
    page.goto("/appliance/login")
    page.get_by_label("User name", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def unique(prefix: str) -> str:
    """A name no other test of the module uses."""
    return f"{prefix}-{time.monotonic_ns() % 10**9}"


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()
