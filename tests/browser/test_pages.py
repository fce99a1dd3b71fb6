"""The pages themselves: without JavaScript, by keyboard, and the audit log's
filters and pages."""

import datetime as dt
import re

from playwright.sync_api import expect

from certdesk.services import accounts
from certdesk.services.accounts import Role
from tests.browser.conftest import Appliance, Visitor, unique


def test_create_and_copy_work_without_javascript(visit: Visitor) -> None:
    name = unique("nojs")
    host = f"{name}.example.test"
    page = visit.signed_in(javascript=False)
    page.goto("/appliance/certificates/create")
    sans = page.locator("input[name=san]")
    expect(sans).to_have_count(3)

    # "Add" goes to the server, which answers with one more empty row.
    page.get_by_label("Certificate friendly name").fill(name)
    page.locator("#san-1").fill(host)
    page.get_by_role("button", name="Add", exact=True).click()
    expect(sans).to_have_count(4)
    expect(page.locator("#san-1")).to_have_value(host)
    expect(page.get_by_label("Certificate friendly name")).to_have_value(name)
    expect(page.locator("#san-4")).to_be_focused()
    page.locator("#san-4").fill(f"www.{host}")

    page.get_by_label("Create certificate request").check()
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page).to_have_url(re.compile(r"/appliance/requests/\d+$"))
    expect(page.locator(".notice")).to_contain_text("Created the request")
    expect(page.locator("dl.facts")).to_contain_text(f"www.{host}")
    # The Copy button needs script; the text stays selectable and downloadable.
    expect(page.locator("button[data-copy]")).to_be_hidden()
    expect(page.get_by_label("Request data (PEM)")).to_have_attribute("readonly", "")
    expect(page.get_by_role("link", name="Download .csr")).to_be_visible()


def test_create_form_in_keyboard_order_and_enter_creates(visit: Visitor) -> None:
    name = unique("keys")
    page = visit.signed_in()
    page.goto("/appliance/certificates/create")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.locator(".crumbs a")).to_be_focused()

    page.get_by_label("Certificate friendly name").focus()
    order = ["key_type", "country", "state", "city", "org", "ou", "cn", "san-1"]
    for expected in order:
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == expected

    page.get_by_label("Certificate friendly name").fill(name)
    page.locator("#cn").fill(f"{name}.example.test")
    page.locator("#cn").press("Enter")
    expect(page).to_have_url(re.compile(r"/appliance/certificates/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(name)


def test_audit_log_filters_and_pages_keep_the_filters(
    visit: Visitor, appliance: Appliance
) -> None:
    name = unique("busy")
    with appliance.services() as ctx:
        accounts.add_user(ctx, name, role=Role.AUDITOR)
        for number in range(60):
            accounts.set_email(ctx, name, f"{number}@example.test")
    page = visit.signed_in()
    page.goto("/appliance/events")
    page.get_by_label("Action").fill("user.email")
    page.get_by_label("Object name").fill(name)
    page.get_by_role("button", name="Filter").click()

    rows = page.locator("table.events tbody tr")
    expect(rows).to_have_count(50)
    expect(rows.first).to_contain_text("59@example.test")
    expect(page.get_by_role("link", name="Newer")).to_have_count(0)
    page.get_by_role("link", name="Older").click()
    expect(rows).to_have_count(10)
    expect(rows.last).to_contain_text("0@example.test")
    assert "action=user.email" in page.url and f"object={name}" in page.url
    expect(page.get_by_label("Object name")).to_have_value(name)
    expect(page.get_by_role("link", name="Older")).to_have_count(0)
    page.get_by_role("link", name="Newer").click()
    expect(rows).to_have_count(50)
    expect(rows.first).to_contain_text("59@example.test")

    today = dt.datetime.now(dt.UTC).date()
    page.get_by_label("To").fill((today - dt.timedelta(days=1)).isoformat())
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("main")).to_contain_text("No events match")
    page.get_by_label("To").fill("")
    page.get_by_label("From").fill(today.isoformat())
    page.get_by_label("Who").fill("test")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(50)

    response = page.goto("/appliance/events?from=31/12/2026")
    assert response is not None and response.status == 422
    expect(page.locator("#from-error")).to_contain_text("not a date")
