"""Who may do what: an auditor sees everything and changes nothing; admins
manage the accounts on the Users page."""

import re
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from playwright.sync_api import APIResponse, Page, expect

from certdesk.pki.keys import KeyType
from certdesk.pki.names import check_subject
from certdesk.services import certificates
from tests.browser.conftest import (
    AUDITOR,
    AUDITOR_PASSWORD,
    Appliance,
    Visitor,
    sign_in,
    unique,
)


def _certificate(appliance: Appliance, name: str) -> int:
    with appliance.services() as ctx:
        created = certificates.create_self_signed(
            ctx,
            name=name,
            key_type=KeyType.P256,
            subject=check_subject(common_name=f"{name}.example.test"),
        )
    return created.view.id


def _csrf(page: Page) -> str:
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    assert token
    return token


def _post(page: Page, path: str, form: dict[str, str]) -> APIResponse:
    """A form sent by hand, with the session and its real CSRF token."""
    return page.request.post(path, form={"csrf": _csrf(page), **form}, max_redirects=0)


def test_auditor_sees_everything_but_no_change_controls(
    visit: Visitor, appliance: Appliance
) -> None:
    name = unique("audited")
    cert_id = _certificate(appliance, name)
    page = visit.signed_in(AUDITOR, AUDITOR_PASSWORD)

    page.goto("/appliance/certificates")
    expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Create", exact=True)).to_have_count(0)
    expect(page.get_by_role("link", name="Import", exact=True)).to_have_count(0)
    expect(page.locator("input[type=radio]")).to_have_count(0)
    expect(page.get_by_role("button", name="Set default")).to_have_count(0)
    options = page.get_by_label("Select Action").locator("option")
    expect(options).to_have_text(["Export"])
    expect(page.get_by_role("link", name="Users")).to_have_count(0)

    page.goto(f"/appliance/certificates/{cert_id}")
    expect(page.locator("#sha256")).not_to_be_empty()
    expect(page.get_by_role("button", name="Set as default")).to_have_count(0)
    expect(page.get_by_role("link", name="Delete")).to_have_count(0)
    page.get_by_role("link", name="Export").click()
    expect(page.get_by_label("The private key")).to_have_count(0)
    expect(page.get_by_label("Your own password")).to_have_count(0)
    expect(page.locator("main")).to_contain_text("without their private key")
    with page.expect_download() as started:
        page.get_by_role("button", name="Export", exact=True).click()
    assert started.value.suggested_filename == f"{name}.pem"
    assert b"PRIVATE KEY" not in Path(started.value.path()).read_bytes()

    for path in ("/appliance/users", f"/appliance/certificates/{cert_id}/delete"):
        response = page.goto(path)
        assert response is not None and response.status == 403, path
        expect(page.locator(".error")).to_contain_text("auditor")


def test_auditor_forcing_a_change_gets_403_and_nothing_changes(
    visit: Visitor, appliance: Appliance
) -> None:
    name = unique("forced")
    cert_id = str(_certificate(appliance, name))
    served = appliance.served(None).fingerprint(hashes.SHA256()).hex()
    page = visit.signed_in(AUDITOR, AUDITOR_PASSWORD)
    page.goto(f"/appliance/certificates/{cert_id}")

    forced = {
        "/appliance/certificates/default": {"default": cert_id},
        "/appliance/certificates/delete": {"id": cert_id},
        "/appliance/certificates/action": {"action": "delete", "selected": cert_id},
        "/appliance/certificates/create": {"name": "x", "cn": "x.example.test"},
        "/appliance/certificates/import": {},
        f"/appliance/certificates/{cert_id}/export": {
            "format": "p12",
            "key": "1",
            "passphrase": "long enough passphrase",
            "repeat": "long enough passphrase",
            "password": AUDITOR_PASSWORD,
        },
        "/appliance/users": {"username": "sneaky", "role": "admin"},
        "/appliance/users/admin/disable": {},
        "/appliance/users/admin/reset-password": {},
    }
    for path, form in forced.items():
        response = _post(page, path, form)
        assert response.status == 403, path
        assert "PRIVATE KEY" not in response.text()

    with appliance.services() as ctx:
        assert certificates.show(ctx, cert_id).name == name
    assert appliance.served(None).fingerprint(hashes.SHA256()).hex() == served

    # What an auditor may do: export the certificate alone.
    export = f"/appliance/certificates/{cert_id}/export"
    allowed = _post(page, export, {"format": "der"})
    assert allowed.status == 200
    assert allowed.headers["content-type"] == "application/pkix-cert"
    disposition = allowed.headers["content-disposition"]
    assert disposition == f'attachment; filename="{name}.cer"'
    assert allowed.headers["cache-control"] == "no-store"


def test_a_form_without_its_csrf_token_is_refused(
    visit: Visitor, appliance: Appliance
) -> None:
    name = unique("csrf")
    cert_id = str(_certificate(appliance, name))
    page = visit.signed_in()
    page.goto("/appliance/certificates")
    for token in ("", "forged"):
        response = page.request.post(
            "/appliance/certificates/delete",
            form={"csrf": token, "id": cert_id},
            max_redirects=0,
        )
        assert response.status == 403
        assert "security token" in response.text()
    with appliance.services() as ctx:
        assert certificates.show(ctx, cert_id).name == name


def test_admin_adds_resets_disables_and_enables_a_user(
    visit: Visitor, appliance: Appliance
) -> None:
    name = unique("colleague")
    page = visit.signed_in()
    page.goto("/appliance/users")
    expect(page.get_by_role("heading", name="Users")).to_be_visible()

    page.get_by_label("User name").fill(f"{name} with spaces")
    page.get_by_label("Role").select_option("auditor")
    page.locator("#email").fill(f"{name}@example.test")
    with page.expect_response(re.compile(r"/appliance/users$")) as answer:
        page.get_by_role("button", name="Add user").click()
    assert answer.value.status == 422
    expect(page.locator("#username-error")).to_contain_text("letters, digits")
    expect(page.locator("#email")).to_have_value(f"{name}@example.test")
    expect(page.get_by_label("Role")).to_have_value("auditor")
    page.get_by_label("User name").fill(name)
    page.get_by_role("button", name="Add user").click()

    # The one-time password, once; the newcomer must replace it.
    expect(page.get_by_role("heading")).to_contain_text(f"Added {name}")
    first = page.get_by_label("One-time password").input_value()
    assert re.fullmatch(r"[a-z2-9]{5}(-[a-z2-9]{5}){3}", first)
    newcomer = visit.page()
    sign_in(newcomer, name, first)
    expect(newcomer).to_have_url(re.compile(r"/appliance/password$"))

    page.goto("/appliance/users")
    row = page.locator(f"#user-{name}")
    expect(row).to_contain_text("auditor")
    expect(row).to_contain_text("has a one-time password")
    expect(row.get_by_label(f"Email of {name}")).to_have_value(f"{name}@example.test")

    row.get_by_role("button", name="Reset password").click()
    second = page.get_by_label("One-time password").input_value()
    assert second != first
    newcomer.goto("/appliance/certificates")
    expect(newcomer).to_have_url(re.compile(r"/appliance/login"))

    page.goto("/appliance/users")
    page.locator(f"#user-{name}").get_by_role("button", name="Disable").click()
    expect(page.locator(".notice")).to_contain_text(f"{name} is disabled")
    expect(page.locator(f"#user-{name}")).to_contain_text("disabled")
    sign_in(newcomer, name, second)
    expect(newcomer.locator(".error")).to_contain_text("not correct")

    page.locator(f"#user-{name}").get_by_role("button", name="Enable").click()
    expect(page.locator(".notice")).to_contain_text("can sign in again")
    sign_in(newcomer, name, second)
    expect(newcomer).to_have_url(re.compile(r"/appliance/password$"))

    email = page.locator(f"#user-{name}").get_by_label(f"Email of {name}")
    email.fill("")
    page.locator(f"#user-{name}").get_by_role("button", name="Save").click()
    expect(page.locator(".notice")).to_contain_text("no email address")


def test_the_last_admin_cannot_be_disabled(visit: Visitor) -> None:
    page = visit.signed_in()
    page.goto("/appliance/users")
    page.locator("#user-admin").get_by_role("button", name="Disable").click()
    expect(page.locator(".error")).to_contain_text("only enabled administrator")
