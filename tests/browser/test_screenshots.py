"""Screenshots of each main page, at laptop and phone width, for the README.

This module has a server of its own, furnished with what a reader expects
to see, so the pictures do not show other tests' leftovers. The files are
rewritten on every run under fixed names in docs/screenshots/.
"""

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from certdesk.pki.keys import KeyType
from certdesk.pki.names import check_subject
from certdesk.services import certificates, importing, requests
from tests.browser.conftest import (
    ADMIN,
    ADMIN_PASSWORD,
    LAPTOP,
    PHONE,
    SCREENSHOTS,
    Appliance,
    Visitor,
    sign_in,
)
from tests.pkitools import three_levels

# Long pages are cut here: the top of a page shows what it is.
MAX_HEIGHT = 1800


@pytest.fixture(scope="module")
def furnished(appliance: Appliance) -> Iterator[dict[str, int]]:
    """An appliance with what a reader of the screenshots expects to see."""
    levels = three_levels(
        "support.example.com", "remote.example.com", now=dt.datetime.now(dt.UTC)
    )
    with appliance.services("user:admin") as ctx:
        made = certificates.create_self_signed(
            ctx,
            name="Staging (self-signed)",
            key_type=KeyType.P256,
            subject=check_subject(
                common_name="staging.example.com",
                country="US",
                state="Oregon",
                org="Example Corp",
                sans=["staging.example.com"],
            ),
        )
        imported = importing.import_files(
            ctx,
            [
                importing.ImportFile("support.crt", levels.leaf.pem),
                importing.ImportFile("support.key", levels.leaf.key_pem),
            ],
            None,
        )
        certificates.set_default(ctx, str(made.view.id))
        request = requests.create_request(
            ctx,
            name="Remote support 2027",
            key_type=KeyType.RSA2048,
            subject=check_subject(
                common_name="support.example.com",
                country="US",
                state="Oregon",
                city="Portland",
                org="Example Corp",
                ou="IT",
                sans=["support.example.com", "*.support.example.com"],
            ),
        )
    leaf = next(i.id for i in imported.items if i.outcome == "created")
    assert leaf is not None
    yield {"certificate": leaf, "request": request.view.id}


def test_screenshots_of_every_main_page(
    visit: Visitor, appliance: Appliance, furnished: dict[str, int]
) -> None:
    """Written to docs/screenshots/ for the README, at laptop and phone width."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    cert, request = furnished["certificate"], furnished["request"]
    for size, viewport in (("laptop", LAPTOP), ("phone", PHONE)):
        page = visit.page(viewport=viewport)
        page.goto("/appliance/login")
        _shot(page, "login", size)
        sign_in(page, ADMIN, ADMIN_PASSWORD)

        for shot, path in (
            ("status", "/appliance/status"),
            ("certificates", "/appliance/certificates"),
            ("import", "/appliance/certificates/import"),
            ("certificate", f"/appliance/certificates/{cert}"),
            ("request", f"/appliance/requests/{request}"),
            ("export", f"/appliance/certificates/{cert}/export"),
            ("users", "/appliance/users"),
            ("audit-log", "/appliance/events"),
        ):
            response = page.goto(path)
            assert response is not None and response.status == 200, path
            _shot(page, shot, size)

        page.goto("/appliance/certificates/create")
        page.get_by_label("Certificate friendly name").fill("Support site")
        page.locator("#country").fill("UK")
        page.locator("#state").fill("Greater London")
        page.locator("#org").fill("Example Corp")
        page.locator("#cn").fill("support.example.com")
        page.locator("#san-1").fill("support.example.com")
        page.get_by_role("button", name="Create", exact=True).click()
        expect(page.locator("#country-error")).to_be_visible()
        _shot(page, "create-error", size)


def _shot(page: Page, name: str, size: str) -> Path:
    path = SCREENSHOTS / f"{name}-{size}.png"
    width = page.viewport_size["width"] if page.viewport_size else LAPTOP["width"]
    height = min(MAX_HEIGHT, page.evaluate("document.documentElement.scrollHeight"))
    page.screenshot(
        path=path,
        full_page=True,
        clip={"x": 0, "y": 0, "width": width, "height": height},
        animations="disabled",
    )
    return path
