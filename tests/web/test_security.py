"""The web layer as an attacker on the network meets it.

Each test is one way in that was tried: sessions that outlive what should end
them, input that turns an answer into a server error, answers that a cache
could keep, markup smuggled in through certificates and file names, and
auditors reaching for what only admins may do.
"""

import re
from collections.abc import Iterator

import httpx
import pytest

from certdesk.services import accounts, sessions
from certdesk.services.accounts import Role
from certdesk.services.context import Context
from certdesk.web.auth import SESSION_COOKIE
from tests.conftest import FakeClock
from tests.pkitools import make_ca, make_leaf
from tests.webtools import PASSWORD, Client, Site, running_site

NEW_PASSWORD = "another long password"
MARKUP = "<img src=x onerror=alert(1)>\"'"


@pytest.fixture
def site(ctx: Context, clock: FakeClock) -> Iterator[Site]:
    with running_site(ctx, clock) as running:
        yield running


def signed_in(site: Site, secret: str) -> Client:
    return Client(site, cookies={SESSION_COOKIE: secret})


def cookie_set(response: httpx.Response, name: str) -> str | None:
    """The value a response sets for cookie `name`, if it sets one."""
    for key, value in response.headers.multi_items():
        if key == "set-cookie" and value.startswith(f"{name}="):
            return value.split(";", 1)[0].split("=", 1)[1].strip('"')
    return None


def is_open(site: Site, secret: str) -> bool:
    return sessions.resolve(site.ctx, secret) is not None


# --- Sessions -----------------------------------------------------------------


def test_changing_the_password_ends_other_sessions_and_rotates_this_one(
    site: Site,
) -> None:
    """A password is changed because it may be known: a session opened with
    the old one (a thief's, or this very cookie) must not survive it."""
    browser = site.browser(Role.ADMIN)
    elsewhere = sessions.start_session(site.ctx, browser.username)

    changed = browser.client.post(
        "/appliance/password",
        data={
            "csrf": browser.csrf,
            "current": PASSWORD,
            "new": NEW_PASSWORD,
            "repeat": NEW_PASSWORD,
        },
    )
    assert changed.status_code == 303

    assert not is_open(site, elsewhere)
    assert not is_open(site, browser.secret)
    fresh = cookie_set(changed, SESSION_COOKIE)
    assert fresh and fresh != browser.secret
    assert signed_in(site, fresh).get("/appliance/status").status_code == 200


def test_a_user_with_a_one_time_password_can_still_sign_out(site: Site) -> None:
    """Someone who signs in with a one-time password and walks away must be
    able to end the session, not only replace the password."""
    accounts.add_user(site.ctx, "bob", role=Role.AUDITOR)
    secret = sessions.start_session(site.ctx, "bob")

    out = signed_in(site, secret).post(
        "/appliance/logout", data={"csrf": sessions.csrf_token_for(secret)}
    )
    assert (out.status_code, out.headers["location"]) == (303, "/appliance/login")
    assert not is_open(site, secret)


def test_sign_out_ends_the_session_on_the_server(site: Site) -> None:
    browser = site.browser(Role.AUDITOR)
    browser.client.post("/appliance/logout", data={"csrf": browser.csrf})
    # The cookie kept by a thief (or a browser that ignored the deletion):
    again = signed_in(site, browser.secret).get("/appliance/status")
    assert again.status_code == 303
    assert again.headers["location"].startswith("/appliance/login")


@pytest.mark.parametrize("change", [accounts.disable_user, accounts.reset_password])
def test_disabling_or_resetting_ends_the_users_sessions_at_once(
    site: Site, change: object
) -> None:
    site.user(Role.ADMIN)  # so that the user below is not the last admin
    browser = site.browser(Role.ADMIN)
    assert callable(change)
    change(site.ctx, browser.username)
    answer = browser.client.get("/appliance/status")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/appliance/login")


def test_sign_in_never_keeps_a_session_secret_the_browser_brought(
    site: Site,
) -> None:
    """Session fixation: a cookie planted before sign-in is not adopted."""
    site.user(Role.ADMIN, "alice")
    planted = "planted-by-someone-else"
    client = Client(site, cookies={SESSION_COOKIE: planted})
    form = client.get("/appliance/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token
    answer = client.post(
        "/appliance/login",
        data={"csrf": token.group(1), "username": "alice", "password": PASSWORD},
    )
    fresh = cookie_set(answer, SESSION_COOKIE)
    assert fresh and fresh != planted
    assert not is_open(site, planted)


# --- The sign-in throttle -----------------------------------------------------


def _sign_in(client: Client, username: str, password: str) -> httpx.Response:
    form = client.get("/appliance/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token
    return client.post(
        "/appliance/login",
        data={"csrf": token.group(1), "username": username, "password": password},
    )


def _lock_out(site: Site, client: Client, username: str) -> list[str]:
    """Ten wrong passwords, waiting out each delay: "status retry-after"."""
    answers = []
    for failures in range(1, 11):
        answer = _sign_in(client, username, "wrong password!")
        answers.append(f"{answer.status_code} {answer.headers.get('retry-after')}")
        site.clock.advance(seconds=2 ** max(0, failures - 3))
    return answers


def test_a_stranger_cannot_lock_the_admin_out(site: Site) -> None:
    """The first admin is always `admin`: failing on purpose from one
    address must not keep the real admin, elsewhere, from signing in."""
    site.user(Role.ADMIN, "admin")
    stranger = site.anonymous("198.51.100.66")
    assert _lock_out(site, stranger, "admin")[-1] == "429 900"
    assert _sign_in(stranger, "admin", PASSWORD).status_code == 429

    owner = site.anonymous("192.0.2.10")
    answer = _sign_in(owner, "admin", PASSWORD)
    assert (answer.status_code, answer.headers["location"]) == (
        303,
        "/appliance/status",
    )
    assert _sign_in(stranger, "admin", PASSWORD).status_code == 429


def test_the_throttle_does_not_tell_which_names_exist(site: Site) -> None:
    """An unknown name is delayed and locked exactly as a real one is."""
    site.user(Role.ADMIN, "alice")
    known = _lock_out(site, site.anonymous("198.51.100.7"), "alice")
    unknown = _lock_out(site, site.anonymous("198.51.100.8"), "nobody-here")
    assert known == unknown
    assert known[:5] == ["401 None", "401 None", "429 1", "429 2", "429 4"]
    assert known[-1] == "429 900"


# --- Input that must be refused, never crash ----------------------------------


def test_a_sign_in_token_of_any_characters_is_refused(site: Site) -> None:
    """hmac.compare_digest raises on non-ASCII text: a stranger's form must
    get the sign-in page again, not an internal error (logged, each time)."""
    client = site.anonymous()
    client.get("/appliance/login")
    answer = client.post(
        "/appliance/login", data={"csrf": "é", "username": "x", "password": "y"}
    )
    assert answer.status_code == 403


def test_a_planted_flash_cookie_cannot_break_the_pages(site: Site) -> None:
    """Cookies ignore the scheme, so a network attacker can set one over plain
    HTTP; a bad flash cookie must be ignored, not make every page fail."""
    browser = site.browser(Role.ADMIN)
    raw = f"{SESSION_COOKIE}={browser.secret}; certdesk_flash=x.\xe9"
    answer = browser.client.get(
        "/appliance/certificates", headers={"Cookie": raw.encode("latin-1")}
    )
    assert answer.status_code == 200


HUGE = "9" * 25


@pytest.mark.parametrize(
    "url",
    [
        f"/appliance/certificates/{HUGE}",
        f"/appliance/certificates/{HUGE}/export",
        f"/appliance/certificates/{HUGE}/delete",
        f"/appliance/requests/{HUGE}",
        f"/appliance/requests/{HUGE}/csr",
        "/appliance/certificates/9999999999",
        f"/appliance/events?before={HUGE}",
        "/appliance/events?after=²",
    ],
)
def test_ids_no_row_can_have_are_not_server_errors(site: Site, url: str) -> None:
    """The API bounds its ids; pages must too, or PostgreSQL refuses the
    query ("integer out of range") and the caller gets a 500."""
    answer = site.browser(Role.ADMIN).client.get(url)
    assert answer.status_code < 500, answer.text[:200]


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/appliance/certificates/action", {"action": "export", "selected": "²"}),
        ("/appliance/certificates/action", {"action": "export", "selected": HUGE}),
        ("/appliance/certificates/action", {"action": "delete", "selected": HUGE}),
        ("/appliance/certificates/default", {"default": "²"}),
        ("/appliance/certificates/default", {"default": HUGE}),
        ("/appliance/certificates/delete", {"id": "²"}),
    ],
)
def test_form_ids_no_row_can_have_are_refused(
    site: Site, path: str, fields: dict[str, str]
) -> None:
    browser = site.browser(Role.ADMIN)
    answer = browser.client.post(path, data={"csrf": browser.csrf, **fields})
    assert answer.status_code < 500, answer.text[:200]
    if answer.status_code == 303:
        # Not sent on to a page that cannot exist.
        assert HUGE not in answer.headers["location"]


# --- Headers ------------------------------------------------------------------


def test_api_answers_are_never_cached(site: Site) -> None:
    """One-time passwords and token secrets are answered once; no cache on
    the way (or the browser's) may keep a copy."""
    admin = site.api(Role.ADMIN)
    answers = [
        admin.post("/api/v1/users", json={"username": "carol", "role": "auditor"}),
        admin.post("/api/v1/users/carol/reset-password"),
        admin.post("/api/v1/tokens", json={"name": "script", "role": "auditor"}),
        admin.get("/api/v1/users"),
    ]
    for answer in answers:
        assert answer.status_code < 300, answer.text
        assert answer.headers.get("cache-control") == "no-store", answer.request.url


@pytest.mark.parametrize(
    "path",
    ["/", "/api/v1/openapi.json", "/appliance/static/app.js", "/api/v1/status"],
)
def test_every_answer_forbids_content_sniffing(site: Site, path: str) -> None:
    answer = site.anonymous().get(path)
    assert answer.headers.get("x-content-type-options") == "nosniff"


def test_the_landing_page_cannot_be_framed(site: Site) -> None:
    csp = site.anonymous().get("/").headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp


# --- Markup and roles ---------------------------------------------------------


def test_markup_from_certificates_and_file_names_is_shown_as_text(
    site: Site,
) -> None:
    """Names in an imported certificate and an upload's file name are the
    attacker's text: every page shows them escaped."""
    browser = site.browser(Role.ADMIN)
    root = make_ca("Root " + MARKUP)
    leaf = make_leaf(root, "x" + MARKUP + ".example.test")
    upload = (MARKUP + ".pem", root.pem + leaf.pem + leaf.key_pem)
    imported = browser.client.post(
        "/appliance/certificates/import",
        data={"csrf": browser.csrf},
        files=[("files", upload)],
    )
    assert imported.status_code == 303
    flash = cookie_set(imported, "certdesk_flash")
    assert flash
    after = Client(
        site, cookies={SESSION_COOKIE: browser.secret, "certdesk_flash": flash}
    )
    pages = [
        after.get("/appliance/certificates"),
        *(browser.client.get(f"/appliance/certificates/{n}") for n in (1, 2)),
        browser.client.get("/appliance/certificates/2/export"),
        browser.client.get("/appliance/certificates/2/delete"),
        browser.client.get("/appliance/events"),
        browser.client.get("/appliance/status"),
        site.anonymous().get("/appliance/login", params={"next": MARKUP}),
    ]
    assert "&lt;img" in pages[0].text
    for page in pages:
        assert page.status_code == 200, page.request.url
        assert "<img" not in page.text, page.request.url


def test_an_auditor_cannot_delete_or_take_a_key_through_select_action(
    site: Site,
) -> None:
    admin = site.api(Role.ADMIN)
    made = admin.post(
        "/api/v1/certificates/self-signed",
        json={"name": "site", "cn": "site.example.test", "key": "p256"},
    )
    assert made.status_code == 201, made.text
    cert_id = made.json()["id"]
    auditor = site.browser(Role.AUDITOR)
    form = {"csrf": auditor.csrf, "selected": str(cert_id)}

    deleting = auditor.client.post(
        "/appliance/certificates/action", data={**form, "action": "delete"}
    )
    assert deleting.status_code == 403
    exporting = auditor.client.post(
        f"/appliance/certificates/{cert_id}/export",
        data={
            "csrf": auditor.csrf,
            "format": "p12",
            "key": "on",
            "passphrase": "a long passphrase",
            "repeat": "a long passphrase",
            "password": PASSWORD,
        },
    )
    assert exporting.status_code == 403
    assert "PRIVATE KEY" not in exporting.text
