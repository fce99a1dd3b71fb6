"""The Let's Encrypt section and /api/v1/acme, in-process, against a real Pebble.

Pebble validates HTTP-01 on a port of its own; the standalone responder
answers there from the same store the site writes challenges to, as serve's
HTTP listener would. Every test runs on SQLite and PostgreSQL.
"""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from certdesk.services.accounts import Role
from certdesk.services.acme.responder import answering
from certdesk.services.acme.status import list_managed
from certdesk.services.context import Context
from tests.acme.pebbletools import Pebble, running_pebble
from tests.conftest import FakeClock
from tests.webtools import Browser, Site, running_site

REQUEST = "/appliance/certificates/letsencrypt/request"
LIST = "/appliance/certificates"


@pytest.fixture(scope="module")
def pebble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:
    with running_pebble(tmp_path_factory.mktemp("pebble")) as server:
        yield server


@pytest.fixture
def site(ctx: Context, clock: FakeClock, pebble: Pebble) -> Iterator[Site]:
    """The site, with this process answering HTTP-01 where Pebble validates."""
    with (
        answering(ctx, "127.0.0.1", pebble.http_port) as who,
        running_site(ctx, clock) as running,
    ):
        assert who.who == "standalone"
        yield running


def request_form(
    browser: Browser, pebble: Pebble, names: list[str], **extra: str
) -> dict[str, object]:
    return {
        "csrf": browser.csrf,
        "name": names,
        "key_type": "p256",
        "directory": "url",
        "directory_url": pebble.directory,
        "challenge_port": str(pebble.http_port),
        **extra,
    }


def bundle(pebble: Pebble) -> dict[str, tuple[str, bytes, str]]:
    return {"ca_bundle": ("pebble.pem", pebble.ca_bundle.read_bytes(), "text/plain")}


def test_a_request_through_the_page_is_validated_issued_and_listed(
    site: Site, pebble: Pebble
) -> None:
    admin = site.browser(Role.ADMIN)
    form = request_form(admin, pebble, ["127.0.0.1"])
    answer = admin.client.post(REQUEST, data=form, files=bundle(pebble))
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == f"{LIST}#acme"

    page = admin.client.get(LIST).text
    assert "Issued “127.0.0.1” for 127.0.0.1" in page
    [managed] = list_managed(site.ctx)
    row = _row(page, managed.certificate_id)
    assert f'href="/appliance/certificates/{managed.certificate_id}"' in row
    assert "in service; renews by itself" in row
    assert "days before expiry" in row or "a third of its lifetime" in row
    assert "Renew now" in row
    # Managed certificates exist, so the guide's caution for failover pairs shows.
    assert "Failover pairs:" in page

    # An auditor sees the table, not the forms.
    auditor = site.browser(Role.AUDITOR).client.get(LIST).text
    assert "in service; renews by itself" in auditor
    assert "Renew now" not in auditor
    assert REQUEST not in auditor


def test_names_only_the_ca_resolves_need_the_preflight_skipped(
    site: Site, pebble: Pebble
) -> None:
    admin = site.browser(Role.ADMIN)
    names = ["portal.example.test", "www.portal.example.test"]

    refused = admin.client.post(
        REQUEST, data=request_form(admin, pebble, names), files=bundle(pebble)
    )
    assert refused.status_code == 409
    assert 'id="name-error"' in refused.text
    assert "pre-flight: portal.example.test does not resolve on this appliance" in (
        refused.text
    )
    # What was typed comes back.
    assert 'value="www.portal.example.test"' in refused.text
    assert list_managed(site.ctx) == []

    form = request_form(admin, pebble, names, skip_preflight="1")
    issued = admin.client.post(REQUEST, data=form, files=bundle(pebble))
    assert issued.status_code == 303, issued.text
    [managed] = list_managed(site.ctx)
    assert managed.identifiers == tuple(names)


def test_renew_now_replaces_the_certificate_and_revoke_asks_first(
    site: Site, pebble: Pebble
) -> None:
    admin = site.browser(Role.ADMIN)
    form = request_form(admin, pebble, ["renew.example.test"], skip_preflight="1")
    assert (
        admin.client.post(REQUEST, data=form, files=bundle(pebble)).status_code == 303
    )
    [first] = list_managed(site.ctx)

    renew = f"/appliance/certificates/letsencrypt/{first.certificate_id}/renew"
    assert admin.client.post(renew, data={"csrf": admin.csrf}).status_code == 303
    assert "Renewed “renew.example.test”" in admin.client.get(LIST).text
    [second] = list_managed(site.ctx)
    assert second.certificate_id != first.certificate_id
    assert second.managed_id == first.managed_id

    revoke = f"/appliance/certificates/letsencrypt/{second.certificate_id}/revoke"
    confirm = admin.client.get(revoke)
    assert confirm.status_code == 200
    assert "This cannot be undone" in confirm.text
    assert 'value="keyCompromise"' in confirm.text
    done = admin.client.post(revoke, data={"csrf": admin.csrf, "reason": "superseded"})
    assert done.status_code == 303
    page = admin.client.get(LIST).text
    serial = re.search(r"serial ([0-9a-f]+), reason superseded", page)
    assert serial, page
    row = _row(page, second.certificate_id)
    assert "revoked at the CA; no longer served or renewed" in row
    assert "Renew now" not in row

    # The CA confirms it.
    assert pebble.cert_status(serial.group(1))["Status"] == "Revoked"

    # A second revoke is refused in words, back on the list.
    again = admin.client.post(revoke, data={"csrf": admin.csrf})
    assert again.status_code == 303
    assert "Not revoked:" in admin.client.get(LIST).text


def test_the_cas_own_words_come_back_when_it_refuses(
    site: Site, pebble: Pebble
) -> None:
    admin = site.browser(Role.ADMIN)
    form = request_form(admin, pebble, ["words.example.test"], skip_preflight="1")
    pebble_down = {"directory_url": "https://127.0.0.1:1/dir"}
    unreachable = admin.client.post(
        REQUEST, data={**form, **pebble_down}, files=bundle(pebble)
    )
    assert unreachable.status_code == 502
    assert "The CA refused:" in unreachable.text
    assert "cannot reach https://127.0.0.1:1/dir" in unreachable.text

    no_bundle = admin.client.post(REQUEST, data=form)
    assert no_bundle.status_code == 502
    assert "did not verify" in no_bundle.text


def test_refused_input_is_named_next_to_its_field(site: Site, pebble: Pebble) -> None:
    admin = site.browser(Role.ADMIN)
    cases: list[tuple[dict[str, object], str, str]] = [
        ({"name": ["*.example.test"]}, "name", "wildcard can only be validated"),
        ({"name": [""]}, "name", "give at least one host name"),
        ({"directory_url": "http://ca.example.test/dir"}, "directory_url", "https://"),
        ({"eab_kid": "kid-1"}, "eab_hmac", "together"),
        ({"challenge_port": "0"}, "challenge_port", "1 to 65535"),
        ({"key_type": "rsa3072"}, "key_type", "listed key types"),
    ]
    for changes, field, words in cases:
        form = {**request_form(admin, pebble, ["a.example.test"]), **changes}
        answer = admin.client.post(REQUEST, data=form)
        assert answer.status_code == 422, (changes, answer.text)
        assert f'id="{field}-error"' in answer.text, changes
        assert words in answer.text, changes

    # Add comes back with one more empty name row, keeping what was typed.
    form = {**request_form(admin, pebble, ["a.example.test"]), "add_name": "1"}
    more = admin.client.post(REQUEST, data=form)
    assert more.status_code == 200
    assert more.text.count('name="name"') == 3
    assert 'value="a.example.test"' in more.text


def test_the_api_requests_lists_renews_and_revokes(site: Site, pebble: Pebble) -> None:
    admin = site.api(Role.ADMIN)
    body = {
        "names": ["api.example.test"],
        "key": "p384",
        "directory": pebble.directory,
        "ca_bundle_pem": pebble.ca_bundle.read_text(),
        "skip_preflight": True,
    }
    made = admin.post("/api/v1/acme/certificates", json=body)
    assert made.status_code == 201, made.text
    issued = made.json()
    assert issued["identifiers"] == ["api.example.test"]

    again = admin.post("/api/v1/acme/certificates", json=body)
    assert again.status_code == 409
    assert "already managed" in again.json()["error"]

    listed = admin.get("/api/v1/acme/certificates").json()
    assert [m["certificate_id"] for m in listed] == [issued["certificate_id"]]
    # The same fields as `certdesk acme status --json`.
    [view] = list_managed(site.ctx)
    assert listed[0] == view.as_json()

    cert_id = issued["certificate_id"]
    renewed = admin.post(f"/api/v1/acme/certificates/{cert_id}/renew")
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["replaced_certificate_id"] == cert_id

    new_id = renewed.json()["certificate_id"]
    revoked = admin.post(
        f"/api/v1/acme/certificates/{new_id}/revoke", json={"reason": "superseded"}
    )
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["state"] == "revoked"

    auditor = site.api(Role.AUDITOR)
    assert auditor.get("/api/v1/acme/certificates").status_code == 200
    assert auditor.post("/api/v1/acme/certificates", json=body).status_code == 403
    assert auditor.post(f"/api/v1/acme/certificates/{new_id}/renew").status_code == 403

    unreachable = {**body, "names": ["other.example.test"]}
    unreachable["directory"] = "https://127.0.0.1:1/dir"
    failed = admin.post("/api/v1/acme/certificates", json=unreachable)
    assert failed.status_code == 502
    assert "cannot reach" in failed.json()["error"]

    refused = admin.post(
        "/api/v1/acme/certificates",
        json={**body, "names": ["nowhere.example.test"], "skip_preflight": False},
    )
    assert refused.status_code == 409
    assert "does not resolve" in refused.json()["error"]


def _row(page: str, certificate_id: int) -> str:
    found = re.search(
        rf'<tr id="managed-{certificate_id}">(.*?)</tr>', page, flags=re.DOTALL
    )
    assert found, f"no row for certificate {certificate_id}"
    return found.group(1)


def test_no_managed_certificates_means_no_failover_caution(
    site: Site, tmp_path: Path
) -> None:
    page = site.browser(Role.ADMIN).client.get(LIST).text
    assert "No Let's Encrypt certificates yet." in page
    assert "Failover pairs:" not in page
    assert "Request a certificate" in page
