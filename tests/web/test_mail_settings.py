"""Settings > Email and /api/v1/mail: the relay set from the browser, and its test.

Against a real SMTP server on loopback (aiosmtpd, STARTTLS under a test CA,
AUTH): the test email must really arrive, an untrusted relay certificate and
a refused recipient must come back in words, and the password must never
come back at all.
"""

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from certdesk.services import accounts, mail_settings
from certdesk.services.accounts import Role
from certdesk.services.context import Context
from certdesk.services.mail import Security, SmtpSettings
from certdesk.store import schema
from certdesk.web.config import WebConfig
from certdesk.web.site import https_app
from tests.conftest import FakeClock
from tests.smtptools import Server, make_ca, smtp_server
from tests.webtools import Browser, Site, running_site

PAGE = "/appliance/settings/email"
USER, SECRET = "certdesk-relay", "relay password 7e1b"


@pytest.fixture
def site(ctx: Context, clock: FakeClock) -> Iterator[Site]:
    with running_site(ctx, clock) as running:
        yield running


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[Server]:
    with smtp_server(tmp_path, tls="starttls", auth=(USER, SECRET)) as server:
        yield server


@contextlib.contextmanager
def site_with_file(
    ctx: Context, clock: FakeClock, smtp: SmtpSettings
) -> Iterator[Site]:
    """The site as serve runs it when certdesk.toml has an [smtp] table."""
    config = WebConfig(ctx, smtp_file=smtp)
    site = Site(ctx, clock, config, https_app(config), asyncio.new_event_loop())
    try:
        yield site
    finally:
        site.close()


def admin_with_email(site: Site, address: str) -> Browser:
    browser = site.browser(Role.ADMIN)
    accounts.set_email(site.ctx, browser.username, address)
    return browser


def save_form(browser: Browser, relay: Server, **changes: object) -> dict[str, str]:
    fields = {
        "csrf": browser.csrf,
        "host": relay.host,
        "port": str(relay.port),
        "security": "starttls",
        "username": USER,
        "password": SECRET,
        "from_address": "certdesk@example.test",
    }
    fields.update({k: str(v) for k, v in changes.items()})
    return fields


def ca_upload(relay: Server) -> dict[str, tuple[str, bytes, str]]:
    assert relay.ca_file is not None
    return {"ca_bundle": ("relay-ca.pem", relay.ca_file.read_bytes(), "text/plain")}


def test_an_admin_sets_the_relay_and_the_test_email_arrives(
    site: Site, relay: Server
) -> None:
    browser = admin_with_email(site, "ops@example.test")
    client = browser.client

    saved = client.post(PAGE, data=save_form(browser, relay), files=ca_upload(relay))
    assert saved.status_code == 303, saved.text
    page = client.get(PAGE).text
    assert "Saved: alerts now go through 127.0.0.1" in page
    assert "a password is stored; leave this empty to keep it" in page
    assert "certdesk SMTP test CA" in page
    # The test goes to the admin's own address unless another is typed.
    assert 'value="ops@example.test"' in page

    sent = client.post(
        f"{PAGE}/test", data={"csrf": browser.csrf, "to": "ops@example.test"}
    )
    assert sent.status_code == 303
    assert "Test email sent to ops@example.test" in client.get(PAGE).text
    [received] = relay.inbox.received
    assert received.recipients == ["ops@example.test"]
    assert received.sender == "certdesk@example.test"
    assert received.message["Subject"] == "certdesk: test message"

    # Saving again with the password left empty keeps the stored one.
    again = save_form(browser, relay, password="")
    assert client.post(PAGE, data=again).status_code == 303
    client.post(
        f"{PAGE}/test", data={"csrf": browser.csrf, "to": "second@example.test"}
    )
    assert [r.recipients for r in relay.inbox.received][-1] == ["second@example.test"]

    assert all(SECRET not in r.text for r in site.seen)
    with site.ctx.store.transaction() as session:
        row = session.scalars(select(schema.SmtpSettings)).one()
        assert row.password_sealed is not None
        assert SECRET.encode() not in row.password_sealed
        changes = session.scalars(
            select(schema.Event).where(schema.Event.action == "mail.settings_changed")
        ).all()
    assert [e.details["password"] for e in changes] == ["set", "kept"]
    assert all(SECRET not in str(e.details) for e in changes)


def test_an_untrusted_relay_certificate_is_a_clear_error(
    site: Site, relay: Server
) -> None:
    browser = admin_with_email(site, "ops@example.test")
    client = browser.client
    # No CA uploaded: the relay's certificate is not one the system trusts.
    assert client.post(PAGE, data=save_form(browser, relay)).status_code == 303

    client.post(f"{PAGE}/test", data={"csrf": browser.csrf, "to": "ops@example.test"})
    page = client.get(PAGE).text
    assert "The test email was not sent" in page
    assert "presented a certificate that is not trusted" in page
    assert "certificate verify failed" in page or "unable to get local issuer" in page
    assert relay.inbox.received == []

    # A different CA uploaded is no better than none.
    other = make_ca("another CA")
    files = {"ca_bundle": ("other.pem", other.ca_pem, "text/plain")}
    client.post(PAGE, data=save_form(browser, relay, password=""), files=files)
    client.post(f"{PAGE}/test", data={"csrf": browser.csrf, "to": "ops@example.test"})
    assert "not trusted" in client.get(PAGE).text


def test_the_relays_own_words_come_back_through_the_api(
    site: Site, relay: Server
) -> None:
    admin = site.api(Role.ADMIN)
    assert relay.ca_file is not None
    body = {
        "host": relay.host,
        "port": relay.port,
        "security": "starttls",
        "username": USER,
        "password": SECRET,
        "from_address": "certdesk@example.test",
        "ca_bundle_pem": relay.ca_file.read_text(),
    }
    put = admin.put("/api/v1/mail/settings", json=body)
    assert put.status_code == 200, put.text
    assert put.json()["password_set"] is True
    assert put.json()["source"] == "web"
    assert SECRET not in put.text

    ok = admin.post("/api/v1/mail/test", json={"to": "ops@example.test"})
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"sent_to": "ops@example.test"}
    assert len(relay.inbox.received) == 1

    refused = admin.post("/api/v1/mail/test", json={"to": "refused@example.test"})
    assert refused.status_code == 502
    assert "550 5.1.1 No such user here" in refused.json()["error"]

    wrong = admin.put(
        "/api/v1/mail/settings", json={**body, "password": "not the password"}
    )
    assert wrong.status_code == 200
    login = admin.post("/api/v1/mail/test", json={"to": "ops@example.test"})
    assert login.status_code == 502
    assert "refused the login of 'certdesk-relay'" in login.json()["error"]

    # An absent bundle is kept; null removes it.
    kept = admin.put("/api/v1/mail/settings", json={**body, "ca_bundle_pem": None})
    assert kept.json()["ca_bundle_subjects"] == []


def test_an_auditor_reads_but_never_the_password_nor_changes(
    site: Site, relay: Server
) -> None:
    admin = site.browser(Role.ADMIN)
    admin.client.post(PAGE, data=save_form(admin, relay), files=ca_upload(relay))
    auditor = site.browser(Role.AUDITOR)

    page = auditor.client.get(PAGE)
    assert page.status_code == 200
    assert "stored (not shown)" in page.text
    assert "Send test email" not in page.text
    assert 'name="password"' not in page.text

    form = {**save_form(auditor, relay), "csrf": auditor.csrf}
    assert auditor.client.post(PAGE, data=form).status_code == 403
    token = site.api(Role.AUDITOR)
    shown = token.get("/api/v1/mail/settings")
    assert shown.status_code == 200
    assert shown.json()["username"] == USER
    assert SECRET not in shown.text
    assert (
        token.post("/api/v1/mail/test", json={"to": "a@example.test"}).status_code
        == 403
    )
    assert token.delete("/api/v1/mail/settings").status_code == 403


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"security": "none"}, "security", "only allowed to a loopback relay"),
        ({"password": "", "username": "someone"}, "password", "give the password"),
        ({"from_address": "nobody"}, "from_address", "is not an email address"),
        ({"port": "70000"}, "port", "outside 1-65535"),
        ({"host": ""}, "host", "is required"),
    ],
)
def test_refused_settings_are_named_next_to_their_field(
    site: Site, changes: dict[str, str], field: str, words: str
) -> None:
    browser = site.browser(Role.ADMIN)
    relay = Server("mail.example.test", 587, None, None)  # type: ignore[arg-type]
    answer = browser.client.post(PAGE, data=save_form(browser, relay, **changes))
    assert answer.status_code == 422
    assert f'id="{field}-error"' in answer.text
    assert words in answer.text
    assert mail_settings.effective(site.ctx, None) is None


def test_the_file_applies_until_a_relay_is_set_here_and_again_after_removal(
    ctx: Context, clock: FakeClock, relay: Server
) -> None:
    from_file = SmtpSettings(
        host="file-relay.example.test",
        from_address="file@example.test",
        security=Security.TLS,
        port=465,
    )
    with site_with_file(ctx, clock, from_file) as site:
        admin = site.api(Role.ADMIN)
        shown = admin.get("/api/v1/mail/settings").json()
        assert (shown["source"], shown["host"]) == ("file", "file-relay.example.test")

        body = {
            "host": "127.0.0.1",
            "port": relay.port,
            "security": "starttls",
            "from_address": "web@example.test",
        }
        assert admin.put("/api/v1/mail/settings", json=body).json()["source"] == "web"
        effective = mail_settings.effective(ctx, from_file)
        assert effective is not None and effective.host == "127.0.0.1"

        removed = admin.delete("/api/v1/mail/settings").json()
        assert (removed["source"], removed["host"]) == (
            "file",
            "file-relay.example.test",
        )
        assert mail_settings.effective(ctx, from_file) == from_file
