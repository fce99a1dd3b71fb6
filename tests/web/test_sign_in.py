"""The sign-in page as a browser meets it: forms, redirects, throttle, trail."""

import re
from collections.abc import Iterator

import pytest

from certdesk.errors import LoginRefused
from certdesk.services import accounts
from certdesk.services.accounts import Role
from certdesk.services.audit import list_events
from certdesk.services.context import Context
from tests.conftest import FakeClock
from tests.webtools import PASSWORD, Client, Site, running_site


@pytest.fixture
def site(ctx: Context, clock: FakeClock) -> Iterator[Site]:
    with running_site(ctx, clock) as running:
        yield running


def _sign_in(client: Client, username: str, password: str, next_page: str = "") -> str:
    form = client.get("/appliance/login")
    found = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert found
    answer = client.post(
        "/appliance/login",
        data={
            "csrf": found.group(1),
            "username": username,
            "password": password,
            "next": next_page,
        },
    )
    return f"{answer.status_code} {answer.headers.get('location', '')}"


def test_a_stranger_is_sent_to_sign_in_and_back_where_they_were(site: Site) -> None:
    alice = site.user(Role.ADMIN, "alice")
    client = site.anonymous()

    first = client.get("/appliance/users?x=1")
    assert first.status_code == 303
    assert (
        first.headers["location"]
        == "/appliance/login?next=%2Fappliance%2Fusers%3Fx%3D1"
    )

    assert _sign_in(client, alice, PASSWORD, "/appliance/users?x=1") == (
        "303 /appliance/users?x=1"
    )
    assert client.get("/appliance/users").status_code == 200


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/x", "/\\evil.example", "/api/v1/x"],
)
def test_the_next_page_is_never_another_site(site: Site, target: str) -> None:
    site.user(Role.ADMIN, "alice")
    assert _sign_in(site.anonymous(), "alice", PASSWORD, target) == (
        "303 /appliance/status"
    )


def test_the_sign_in_form_needs_its_own_token(site: Site) -> None:
    site.user(Role.ADMIN, "alice")
    client = site.anonymous()
    answer = client.post(
        "/appliance/login",
        data={"csrf": "made-up", "username": "alice", "password": PASSWORD},
    )
    assert answer.status_code == 403
    assert "certdesk_session" not in answer.headers.get("set-cookie", "")


def test_the_session_cookie_is_secure_httponly_strict(site: Site) -> None:
    site.user(Role.ADMIN, "alice")
    client = site.anonymous()
    form = client.get("/appliance/login")
    found = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert found
    answer = client.post(
        "/appliance/login",
        data={"csrf": found.group(1), "username": "alice", "password": PASSWORD},
    )
    cookie = next(
        v for k, v in answer.headers.multi_items() if k == "set-cookie" and
        v.startswith("certdesk_session=")
    )  # fmt: skip
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/appliance" in cookie


def test_a_one_time_password_leads_to_the_password_page_first(site: Site) -> None:
    _, one_time = accounts.add_user(site.ctx, "bob", role=Role.AUDITOR)
    assert one_time is not None
    client = site.anonymous()
    assert _sign_in(client, "bob", one_time) == "303 /appliance/password"

    blocked = client.get("/appliance/certificates")
    assert blocked.status_code == 303
    assert blocked.headers["location"] == "/appliance/password"


def test_repeated_failures_are_slowed_then_locked_and_recorded(
    site: Site, clock: FakeClock
) -> None:
    site.user(Role.ADMIN, "alice")
    client = site.anonymous()
    answers = [_sign_in(client, "alice", "wrong password!") for _ in range(3)]
    # The third failure already says to wait before the next attempt.
    assert answers == ["401 ", "401 ", "429 "]

    form = client.get("/appliance/login")
    found = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert found
    throttled = client.post(
        "/appliance/login",
        data={"csrf": found.group(1), "username": "alice", "password": PASSWORD},
    )
    assert throttled.status_code == 429
    assert throttled.headers["retry-after"] == "1"
    assert "try again in" in throttled.text
    # The throttle holds this address back, not the account.
    elsewhere = site.anonymous("192.0.2.44")
    assert _sign_in(elsewhere, "alice", PASSWORD) == "303 /appliance/status"

    clock.advance(seconds=2)
    assert _sign_in(client, "alice", PASSWORD) == "303 /appliance/status"

    trail = list_events(site.ctx, action="user.")
    failed = [e for e in trail if e["action"] == "user.login_failed"]
    assert len(failed) == 4
    # Before sign-in, the trail names where the attempt came from.
    assert {e["actor"] for e in failed} == {"web:127.0.0.1"}
    assert all(PASSWORD not in str(e) and "wrong password" not in str(e) for e in trail)


def test_the_users_page_says_from_how_many_addresses_an_account_is_locked(
    site: Site, clock: FakeClock
) -> None:
    site.user(Role.ADMIN, "alice")
    for address in ("203.0.113.5", "203.0.113.6"):
        for failures in range(1, 11):
            with pytest.raises(LoginRefused):
                accounts.log_in(site.ctx, "alice", "wrong", client=f"web:{address}")
            clock.advance(seconds=2 ** max(0, failures - 3))
    page = site.browser(Role.ADMIN).client.get("/appliance/users")
    assert page.status_code == 200
    row = page.text.split('id="user-alice"', 1)[1].split("</tr>", 1)[0]
    assert "enabled" in row
    assert "locked from 2 addresses until" in row
