"""User accounts: rules, the sign-in throttle and lock, and what events hold."""

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from argon2 import PasswordHasher
from sqlalchemy import inspect, select

from certdesk.errors import Conflict, InvalidInput, LoginRefused, NotFound
from certdesk.services import accounts, sessions
from certdesk.services.accounts import Principal, Role
from certdesk.services.context import Context
from certdesk.services.views import json_time
from certdesk.store import schema
from tests.conftest import FakeClock

PASSWORD = "correct horse battery"
WRONG = "not the password at all"
MIGRATIONS = Path(accounts.__file__).parents[1] / "store" / "migrations"


def _alice(ctx: Context, role: Role = Role.ADMIN) -> None:
    accounts.add_user(ctx, "alice", role=role, password=PASSWORD)


def _refused(
    ctx: Context, password: str, username: str = "alice", client: str = ""
) -> LoginRefused:
    with pytest.raises(LoginRefused) as caught:
        accounts.log_in(ctx, username, password, client=client)
    return caught.value


def _counters(ctx: Context) -> list[schema.SignInThrottle]:
    with ctx.store.transaction() as session:
        return list(session.scalars(select(schema.SignInThrottle)))


def _counter(
    ctx: Context, client: str = "", username: str = "alice"
) -> schema.SignInThrottle | None:
    key = accounts.throttle_key(client, username)
    with ctx.store.transaction() as session:
        return session.get(schema.SignInThrottle, key)


def _failures(ctx: Context, client: str = "", username: str = "alice") -> int:
    counter = _counter(ctx, client, username)
    return 0 if counter is None else counter.failures


def _events(ctx: Context, action: str | None = None) -> list[schema.Event]:
    with ctx.store.transaction() as session:
        query = select(schema.Event).order_by(schema.Event.id)
        if action is not None:
            query = query.where(schema.Event.action == action)
        return list(session.scalars(query))


def _row(ctx: Context, username: str = "alice") -> schema.User:
    with ctx.store.transaction() as session:
        row = session.scalar(
            select(schema.User).where(schema.User.username == username)
        )
        assert row is not None
        return row


def test_a_new_user_without_password_gets_a_one_time_one(ctx: Context) -> None:
    view, one_time = accounts.add_user(
        ctx, " Bob ", role=Role.AUDITOR, email="bob@example.test"
    )
    assert one_time is not None
    assert 20 <= len(one_time) <= 24
    assert view.username == "bob"
    assert view.role is Role.AUDITOR
    assert view.must_change_password
    assert not view.disabled

    signed_in = accounts.log_in(ctx, "BOB", one_time)
    assert signed_in.must_change_password
    assert signed_in.last_login_at == ctx.now()


def test_a_chosen_password_is_checked_and_not_returned(ctx: Context) -> None:
    view, one_time = accounts.add_user(ctx, "carol", role=Role.ADMIN, password=PASSWORD)
    assert one_time is None
    assert not view.must_change_password
    for bad in ("too short", "x" * 1025, "Carol"):
        with pytest.raises(InvalidInput) as caught:
            accounts.add_user(ctx, "dave", role=Role.ADMIN, password=bad)
        assert caught.value.field == "password"
    with pytest.raises(InvalidInput, match="user name"):
        accounts.check_password_rules("carol.example", "carol.example")
    accounts.check_password_rules("x" * 12, "carol")


def test_user_names_and_emails_are_checked(ctx: Context) -> None:
    for bad in ("", "has space", "é", "a" * 65, "semi;colon"):
        with pytest.raises(InvalidInput) as caught:
            accounts.add_user(ctx, bad, role=Role.ADMIN)
        assert caught.value.field == "username"
    for bad in ("no-at", "two@@example.test", "a b@example.test", "@example.test"):
        with pytest.raises(InvalidInput) as caught:
            accounts.add_user(ctx, "erin", role=Role.ADMIN, email=bad)
        assert caught.value.field == "email"

    accounts.add_user(ctx, "erin.m_2-x", role=Role.ADMIN)
    with pytest.raises(Conflict, match="already exists"):
        accounts.add_user(ctx, "Erin.M_2-X", role=Role.AUDITOR)


def test_email_is_set_and_cleared(ctx: Context) -> None:
    _alice(ctx)
    assert accounts.set_email(ctx, "alice", "a@example.test").email == "a@example.test"
    assert accounts.set_email(ctx, "alice", None).email is None
    assert [e.details for e in _events(ctx, "user.email_changed")] == [
        {"email": "a@example.test"},
        {"email": None},
    ]
    with pytest.raises(NotFound, match="certdesk user list"):
        accounts.set_email(ctx, "nobody", None)


def test_list_and_get(ctx: Context) -> None:
    _alice(ctx)
    accounts.add_user(ctx, "bob", role=Role.AUDITOR)
    assert [u.username for u in accounts.list_users(ctx)] == ["alice", "bob"]
    assert accounts.get_user(ctx, "Alice").role is Role.ADMIN
    with pytest.raises(NotFound):
        accounts.get_user(ctx, "zed")


def test_throttle_waits_double_after_the_third_failure(
    ctx: Context, clock: FakeClock
) -> None:
    _alice(ctx)
    for _ in range(3):
        refused = _refused(ctx, WRONG)
        assert str(refused) == accounts.WRONG_LOGIN
    assert refused.retry_after == 1

    # Failures 4 to 9 each wait 2**(failures - 3) seconds after the last.
    for failures in range(3, 9):
        wait = 2 ** (failures - 3)
        throttled = _refused(ctx, PASSWORD)  # even the right one is not checked
        assert "too many failed attempts" in str(throttled)
        assert throttled.retry_after == wait
        clock.advance(seconds=wait - 0.5)
        assert _refused(ctx, PASSWORD).retry_after == 1
        clock.advance(seconds=0.5)
        assert _refused(ctx, WRONG).retry_after == 2 ** (failures - 2)

    assert _failures(ctx) == 9
    clock.advance(seconds=64)
    signed_in = accounts.log_in(ctx, "alice", PASSWORD)
    assert signed_in.locked_until is None
    # A success forgets that client's failures with that name.
    assert _counter(ctx) is None

    reasons = [e.details["reason"] for e in _events(ctx, "user.login_failed")]
    assert reasons.count("password") == 9
    assert reasons.count("throttled") == 12
    assert _events(ctx, "user.logged_in")[-1].object_name == "alice"


def _fail_until_locked(
    ctx: Context, clock: FakeClock, username: str = "alice", client: str = ""
) -> LoginRefused:
    for failures in range(1, 10):
        _refused(ctx, WRONG, username, client)
        if failures >= 3:
            clock.advance(seconds=2 ** (failures - 3))
    return _refused(ctx, WRONG, username, client)


def test_ten_failures_lock_for_fifteen_minutes(ctx: Context, clock: FakeClock) -> None:
    _alice(ctx)
    locked = _fail_until_locked(ctx, clock)
    assert locked.retry_after == 15 * 60
    assert "15 minutes" in str(locked)
    until = clock.now + dt.timedelta(minutes=15)
    view = accounts.get_user(ctx, "alice")
    assert (view.locked_until, view.locked_clients) == (until, 1)
    assert view.as_json()["locked_clients"] == 1
    [listed] = accounts.list_users(ctx)
    assert (listed.locked_until, listed.locked_clients) == (until, 1)
    [event] = _events(ctx, "user.locked")
    assert event.details == {"failures": 10, "until": json_time(until)}

    clock.advance(minutes=14, seconds=59)
    still = _refused(ctx, PASSWORD)
    assert still.retry_after == 1
    assert _events(ctx, "user.login_failed")[-1].details["reason"] == "locked"

    clock.advance(seconds=1)
    assert accounts.log_in(ctx, "alice", PASSWORD).locked_until is None
    assert _failures(ctx) == 0


def test_a_failure_after_the_lock_locks_again(ctx: Context, clock: FakeClock) -> None:
    _alice(ctx)
    _fail_until_locked(ctx, clock)
    clock.advance(minutes=15)
    again = _refused(ctx, WRONG)
    assert again.retry_after == 15 * 60
    assert len(_events(ctx, "user.locked")) == 2


def test_unknown_users_get_the_same_answer(ctx: Context) -> None:
    _alice(ctx)
    known = _refused(ctx, WRONG)
    attempted = "mallory" + "x" * 100
    unknown = _refused(ctx, WRONG, username=attempted)
    invalid = _refused(ctx, WRONG, username="not a valid name")
    assert str(known) == str(unknown) == str(invalid)
    assert known.retry_after == unknown.retry_after == 0

    failed = _events(ctx, "user.login_failed")
    # A password typed into the name field must not land in the trail.
    assert failed[1].object_name is None
    assert failed[1].object_id is None
    assert failed[1].details == {"failures": 1, "reason": "unknown-user"}


def _answers(ctx: Context, clock: FakeClock, username: str) -> list[tuple[str, int]]:
    """What 10 wrong passwords, a throttled right one and the lock answer."""
    seen = []
    for failures in range(1, 11):
        refused = _refused(ctx, WRONG, username, "web:192.0.2.7")
        seen.append((str(refused), refused.retry_after))
        if 3 <= failures < 10:
            early = _refused(ctx, PASSWORD, username, "web:192.0.2.7")
            seen.append((str(early), early.retry_after))
            clock.advance(seconds=2 ** (failures - 3))
    clock.advance(minutes=15)
    again = _refused(ctx, WRONG, username, "web:192.0.2.7")
    seen.append((str(again), again.retry_after))
    return seen


def test_unknown_names_are_delayed_and_locked_like_accounts(
    ctx: Context, clock: FakeClock
) -> None:
    """Otherwise the throttle's answers would tell which names exist."""
    _alice(ctx)
    known = _answers(ctx, clock, "alice")
    unknown = _answers(ctx, clock, "mallory")
    assert known == unknown
    assert [wait for _, wait in known][:4] == [0, 0, 1, 1]
    assert known[-2][1] == known[-1][1] == 15 * 60

    failed = _events(ctx, "user.login_failed")
    assert {e.details["reason"] for e in failed if e.object_name is None} == {
        "unknown-user",
        "throttled",
    }
    locked = _events(ctx, "user.locked")
    assert [e.object_name for e in locked] == ["alice", "alice", None, None]
    # Only an existing account's name is kept, for resets and the Users page.
    assert sorted(c.username or "" for c in _counters(ctx)) == ["", "alice"]


def test_failures_from_one_client_never_lock_another(
    ctx: Context, clock: FakeClock
) -> None:
    _alice(ctx)
    stranger, owner = "web:198.51.100.9", "web:192.0.2.10"
    locked = _fail_until_locked(ctx, clock, client=stranger)
    assert locked.retry_after == 15 * 60
    assert accounts.log_in(ctx, "alice", PASSWORD, client=owner).username == "alice"

    # The owner's success does not lift the stranger's lock; a reset does.
    assert _refused(ctx, PASSWORD, client=stranger).retry_after > 0
    view = accounts.get_user(ctx, "alice")
    assert view.locked_clients == 1
    accounts.reset_password(ctx, "alice")
    assert accounts.get_user(ctx, "alice").locked_clients == 0
    assert _counters(ctx) == []


def test_the_throttle_key_never_holds_the_name_in_clear(ctx: Context) -> None:
    typed = "My Secret Passphrase"
    _refused(ctx, WRONG, username=typed, client="web:192.0.2.1")
    [counter] = _counters(ctx)
    material = b"web:192.0.2.1\0my secret passphrase"
    assert counter.key_sha256 == hashlib.sha256(material).hexdigest()
    assert counter.username is None
    assert typed.lower() not in json.dumps(
        [counter.key_sha256, counter.username, counter.failures]
    )


def test_old_counters_are_forgotten_and_swept(ctx: Context, clock: FakeClock) -> None:
    _alice(ctx)
    for _ in range(3):
        _refused(ctx, WRONG, client="web:192.0.2.1")
    _refused(ctx, WRONG, username="mallory", client="web:192.0.2.2")
    clock.advance(days=1, seconds=1)
    # A day later the first client starts again from its first failure ...
    assert _refused(ctx, WRONG, client="web:192.0.2.1").retry_after == 0
    assert _failures(ctx, "web:192.0.2.1") == 1
    # ... and the other, untouched counter was swept by that write.
    assert _counter(ctx, "web:192.0.2.2", "mallory") is None
    assert len(_counters(ctx)) == 1


def test_a_disabled_account_is_refused_like_a_wrong_password(ctx: Context) -> None:
    _alice(ctx)
    accounts.add_user(ctx, "bob", role=Role.AUDITOR, password=PASSWORD)
    disabled = accounts.disable_user(ctx, "bob")
    assert disabled.disabled
    refused = _refused(ctx, PASSWORD, username="bob")
    assert str(refused) == accounts.WRONG_LOGIN
    assert _events(ctx, "user.login_failed")[-1].details["reason"] == "disabled"

    accounts.enable_user(ctx, "bob")
    assert accounts.log_in(ctx, "bob", PASSWORD).username == "bob"
    actions = [e.action for e in _events(ctx) if e.object_name == "bob"]
    assert actions == [
        "user.created",
        "user.disabled",
        "user.login_failed",
        "user.enabled",
        "user.logged_in",
    ]


def test_the_last_enabled_admin_cannot_be_disabled(ctx: Context) -> None:
    _alice(ctx)
    accounts.add_user(ctx, "audit", role=Role.AUDITOR)
    with pytest.raises(Conflict, match="only enabled administrator"):
        accounts.disable_user(ctx, "alice")
    accounts.disable_user(ctx, "audit")

    accounts.add_user(ctx, "bob", role=Role.ADMIN)
    accounts.disable_user(ctx, "alice")
    with pytest.raises(Conflict, match="only enabled administrator"):
        accounts.disable_user(ctx, "bob")
    # Disabling twice changes nothing and records nothing.
    accounts.disable_user(ctx, "alice")
    assert len(_events(ctx, "user.disabled")) == 2


def test_disabling_and_resetting_end_sessions(ctx: Context) -> None:
    _alice(ctx)
    accounts.add_user(ctx, "bob", role=Role.ADMIN, password=PASSWORD)
    secret = sessions.start_session(ctx, "bob")
    accounts.disable_user(ctx, "bob")
    assert sessions.resolve(ctx, secret) is None
    assert _events(ctx, "user.disabled")[0].details == {"sessions_ended": 1}
    accounts.enable_user(ctx, "bob")

    secret = sessions.start_session(ctx, "bob")
    accounts.reset_password(ctx, "bob")
    assert sessions.resolve(ctx, secret) is None


def test_reset_gives_a_one_time_password_and_lifts_the_lock(
    ctx: Context, clock: FakeClock
) -> None:
    _alice(ctx)
    _fail_until_locked(ctx, clock)
    one_time = accounts.reset_password(ctx, "alice")
    assert one_time != PASSWORD
    _refused(ctx, PASSWORD)
    view = accounts.log_in(ctx, "alice", one_time)
    assert view.must_change_password
    assert view.locked_until is None


def test_changing_the_password(ctx: Context) -> None:
    _view, one_time = accounts.add_user(ctx, "alice", role=Role.ADMIN)
    assert one_time is not None
    with pytest.raises(LoginRefused, match="your password is not correct"):
        accounts.change_password(ctx, "alice", WRONG, "a brand new password")
    # Inside a session the throttle's client is the account's session client.
    assert accounts.session_client("Alice") == "session:alice"
    assert _failures(ctx, "session:alice") == 1
    with pytest.raises(InvalidInput, match="same as the current"):
        accounts.change_password(ctx, "alice", one_time, one_time)
    with pytest.raises(InvalidInput, match="at least 12"):
        accounts.change_password(ctx, "alice", one_time, "short")

    changed = accounts.change_password(ctx, "alice", one_time, "a brand new password")
    assert not changed.must_change_password
    assert _failures(ctx, "session:alice") == 0
    _refused(ctx, one_time)
    accounts.log_in(ctx, "alice", "a brand new password")
    assert len(_events(ctx, "user.password_changed")) == 1


def test_confirming_counts_toward_the_throttle(ctx: Context) -> None:
    """A stolen session guessing the password is slowed like anyone, but on
    its own counter: it cannot lock the owner out of signing in."""
    _alice(ctx)
    accounts.confirm_password(ctx, "alice", PASSWORD)
    for _ in range(3):
        with pytest.raises(LoginRefused, match="your password is not correct"):
            accounts.confirm_password(ctx, "alice", WRONG)
    with pytest.raises(LoginRefused, match="too many failed attempts"):
        accounts.confirm_password(ctx, "alice", PASSWORD)
    with pytest.raises(LoginRefused, match="too many failed attempts"):
        accounts.change_password(ctx, "alice", PASSWORD, "a brand new password")
    assert accounts.log_in(ctx, "alice", PASSWORD, client="web:192.0.2.1")


def test_the_first_admin_is_made_once(ctx: Context) -> None:
    one_time = accounts.ensure_first_admin(ctx)
    assert one_time is not None
    [admin] = accounts.list_users(ctx)
    assert (admin.username, admin.role, admin.must_change_password) == (
        "admin",
        Role.ADMIN,
        True,
    )
    assert accounts.ensure_first_admin(ctx) is None
    assert accounts.log_in(ctx, "admin", one_time).username == "admin"


def test_an_old_hash_is_replaced_at_sign_in(ctx: Context) -> None:
    _alice(ctx)
    weak = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    with ctx.store.transaction() as session:
        row = session.scalar(select(schema.User))
        assert row is not None
        row.password_hash = weak.hash(PASSWORD)
    accounts.log_in(ctx, "alice", PASSWORD)
    renewed = _row(ctx).password_hash
    assert not PasswordHasher().check_needs_rehash(renewed)
    assert PasswordHasher().verify(renewed, PASSWORD)


def test_views_and_principals(ctx: Context, clock: FakeClock) -> None:
    view, _ = accounts.add_user(ctx, "alice", role=Role.AUDITOR)
    data = view.as_json()
    assert data["created_at"] == "2026-06-01T12:00:00Z"
    assert data["role"] == "auditor"
    assert data["last_login_at"] is None
    assert not any("hash" in key or key == "password" for key in data)

    assert Principal("alice", Role.ADMIN, "session").actor == "user:alice"
    assert Principal("ci", Role.AUDITOR, "token").actor == "token:ci"
    assert Principal("alice", Role.ADMIN, "session").is_admin
    assert not Principal("ci", Role.AUDITOR, "token").is_admin


def test_no_password_or_hash_reaches_an_event(ctx: Context, clock: FakeClock) -> None:
    _view, one_time = accounts.add_user(ctx, "alice", role=Role.ADMIN)
    assert one_time is not None
    accounts.change_password(ctx, "alice", one_time, PASSWORD)
    _refused(ctx, WRONG)
    _refused(ctx, WRONG, username="nobody")
    reset = accounts.reset_password(ctx, "alice")
    accounts.log_in(ctx, "alice", reset)
    secret = sessions.start_session(ctx, "alice")
    sessions.end_session(ctx, secret)

    dumped = json.dumps(
        [[e.actor, e.object_name, e.object_id, e.details] for e in _events(ctx)]
    )
    for secret_value in (one_time, PASSWORD, WRONG, reset, secret, "$argon2"):
        assert secret_value not in dumped
    assert "user.logged_out" in [e.action for e in _events(ctx)]


def test_the_migration_matches_the_models_and_downgrades(ctx: Context) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    engine = ctx.store.engine
    with engine.connect() as conn:
        migration = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(migration, schema.Base.metadata) == []

    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0002")
    assert "users" not in inspect(engine).get_table_names()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    assert {"users", "api_tokens", "web_sessions", "sign_in_throttle"} <= set(
        inspect(engine).get_table_names()
    )
    user_columns = {c["name"] for c in inspect(engine).get_columns("users")}
    assert not user_columns & {"failed_logins", "last_failed_at", "locked_until"}
