"""The Let's Encrypt section and Settings > Email in Chromium, on a real serve.

Pebble validates HTTP-01 on serve's own HTTP port, so the answers come from
serve's listener exactly as a public CA's would; the served certificate is
then checked by a real TLS handshake. The screenshots for the README are
taken here too.
"""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from playwright.sync_api import Page, expect

from certdesk.cli.main import main
from certdesk.services import accounts
from certdesk.services.accounts import Role
from tests.acme.pebbletools import Pebble, available
from tests.browser.conftest import (
    ADMIN,
    ADMIN_PASSWORD,
    LAPTOP,
    PHONE,
    SCREENSHOTS,
    Appliance,
    OpenStore,
    Visitor,
    sha256,
    sign_in,
)
from tests.servetools import free_port, start_serve, stop_serve, wait_for_port
from tests.smtptools import Server, smtp_server

MAX_HEIGHT = 1800


@pytest.fixture(scope="module")
def pebble_and_serve(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Appliance, Pebble]]:
    """A serve whose HTTP port is where Pebble validates."""
    if not available():
        pytest.fail("pebble is not installed; scripts/test.sh installs it")
    data_dir = tmp_path_factory.mktemp("acme-appliance") / "data"
    assert main(["--data-dir", str(data_dir), "init"]) == 0
    with OpenStore(data_dir, "test") as ctx:
        accounts.add_user(ctx, ADMIN, role=Role.ADMIN, password=ADMIN_PASSWORD)
        accounts.set_email(ctx, ADMIN, "admin@example.test")

    https, http = free_port(), free_port()
    pebble = Pebble(tmp_path_factory.mktemp("pebble"), http).start()
    process = start_serve(data_dir, https, http, quiet=True)
    try:
        wait_for_port(https, process)
        yield Appliance(data_dir, https), pebble
    finally:
        pebble.stop()
        stop_serve(process)


@pytest.fixture(scope="module")
def appliance(pebble_and_serve: tuple[Appliance, Pebble]) -> Appliance:
    return pebble_and_serve[0]


@pytest.fixture(scope="module")
def pebble(pebble_and_serve: tuple[Appliance, Pebble]) -> Pebble:
    return pebble_and_serve[1]


def names_of(cert: x509.Certificate) -> list[str]:
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return sans.value.get_values_for_type(x509.DNSName)


def request(page: Page, pebble: Pebble, names: list[str], *, skip: bool) -> None:
    page.goto("/appliance/certificates#acme")
    for number, name in enumerate(names, start=1):
        if number > 2:
            page.get_by_role("button", name="Add", exact=True).click()
        page.locator(f"#name-{number}").fill(name)
    page.get_by_label("Key", exact=True).select_option("p256")
    page.get_by_label("Certificate authority").select_option("url")
    page.get_by_text("Another CA, account and checks").click()
    page.get_by_label("Directory URL").fill(pebble.directory)
    page.get_by_label("The CA's root certificate").set_input_files(pebble.ca_bundle)
    if skip:
        page.get_by_label("Skip the pre-flight check").check()
    page.get_by_role("button", name="Request", exact=True).click()
    page.wait_for_load_state()


def wait_served(
    appliance: Appliance, name: str, not_fingerprint: str
) -> x509.Certificate:
    """serve polls the store; the change shows within about a second."""
    deadline = time.monotonic() + 5
    while True:
        cert = appliance.served(name)
        if sha256(cert) != not_fingerprint or time.monotonic() > deadline:
            return cert
        time.sleep(0.1)


def test_request_renew_and_revoke_in_the_browser(
    visit: Visitor, appliance: Appliance, pebble: Pebble
) -> None:
    page = visit.signed_in()
    before = sha256(appliance.served("portal.example.test"))

    # Without skipping, the pre-flight refuses a name this machine cannot resolve.
    request(page, pebble, ["portal.example.test"], skip=False)
    expect(page.locator("#name-error")).to_contain_text(
        "portal.example.test does not resolve on this appliance"
    )
    expect(page.locator("#name-1")).to_have_value("portal.example.test")

    # Pebble's own DNS resolves it to this machine: skip the pre-flight.
    request(page, pebble, ["portal.example.test", "www.portal.example.test"], skip=True)
    expect(page.locator(".notice")).to_contain_text("Issued “portal.example.test”")
    row = page.locator("table.managed tbody tr").first
    expect(row).to_contain_text("in service; renews by itself")
    expect(page.locator(".caution")).to_contain_text("Failover pairs")

    issued = wait_served(appliance, "portal.example.test", before)
    assert names_of(issued) == ["portal.example.test", "www.portal.example.test"]
    assert "Pebble" in issued.issuer.rfc4514_string()

    row.get_by_role("button", name="Renew now").click()
    page.wait_for_load_state()
    expect(page.locator(".notice")).to_contain_text("Renewed “portal.example.test”")
    renewed = wait_served(appliance, "portal.example.test", sha256(issued))
    assert sha256(renewed) != sha256(issued)
    assert names_of(renewed) == names_of(issued)

    page.locator("table.managed tbody tr").first.get_by_role(
        "link", name="Revoke"
    ).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Revoke")
    page.get_by_label("Reason").select_option("superseded")
    page.get_by_role("button", name="Revoke").click()
    page.wait_for_load_state()
    expect(page.locator(".notice")).to_contain_text("reason superseded")
    expect(page.locator("table.managed tbody tr").first).to_contain_text(
        "revoked at the CA"
    )
    after = wait_served(appliance, "portal.example.test", sha256(renewed))
    assert sha256(after) != sha256(renewed), "a revoked certificate is still served"


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[Server]:
    with smtp_server(tmp_path, tls="starttls") as server:
        yield server


def test_email_settings_and_the_test_button(visit: Visitor, relay: Server) -> None:
    page = visit.signed_in()
    page.goto("/appliance/settings/email")
    page.get_by_label("Mail relay (SMTP server)").fill(relay.host)
    page.get_by_label("Encryption", exact=True).select_option("starttls")
    page.locator("#port").fill(str(relay.port))
    page.get_by_label("From address").fill("certdesk@example.test")
    assert relay.ca_file is not None
    page.get_by_label("CA certificate of the relay").set_input_files(relay.ca_file)
    page.get_by_role("button", name="Save").click()
    page.wait_for_load_state()
    expect(page.locator(".notice")).to_contain_text("Saved")

    expect(page.get_by_label("Send a test email to")).to_have_value(
        "admin@example.test"
    )
    page.get_by_role("button", name="Send test email").click()
    page.wait_for_load_state()
    expect(page.locator(".notice")).to_contain_text("Test email sent")
    [received] = relay.inbox.received
    assert received.recipients == ["admin@example.test"]


def shoot(page: Page, name: str) -> None:
    height = min(page.evaluate("document.body.scrollHeight"), MAX_HEIGHT)
    width = page.viewport_size["width"] if page.viewport_size else 1280
    page.screenshot(
        path=SCREENSHOTS / name,
        clip={"x": 0, "y": 0, "width": width, "height": height},
        full_page=True,
    )


@pytest.mark.parametrize(("size", "viewport"), [("laptop", LAPTOP), ("phone", PHONE)])
def test_screenshots(
    visit: Visitor,
    appliance: Appliance,
    pebble: Pebble,
    size: str,
    viewport: object,
) -> None:
    page = visit.page(viewport=viewport)  # type: ignore[arg-type]
    sign_in(page, ADMIN, ADMIN_PASSWORD)
    page.goto("/appliance/certificates")
    if not page.locator("#acme ~ table a", has_text="support.example.test").count():
        request(page, pebble, ["support.example.test"], skip=True)
    page.goto("/appliance/certificates#acme")
    page.locator("#acme").scroll_into_view_if_needed()
    section = page.locator("section[aria-labelledby=acme]")
    section.screenshot(path=SCREENSHOTS / f"letsencrypt-{size}.png")

    page.goto("/appliance/settings/email")
    shoot(page, f"email-settings-{size}.png")
