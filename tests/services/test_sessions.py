"""Browser sessions: expiry by idleness and by age, sign-out, CSRF tokens."""

import datetime as dt
import hashlib

import pytest
from sqlalchemy import select

from certdesk.errors import Conflict, NotFound
from certdesk.services import accounts, sessions
from certdesk.services.accounts import Role
from certdesk.services.context import Context
from certdesk.services.sessions import SessionPolicy
from certdesk.store import schema
from tests.conftest import FakeClock


def _signed_in(ctx: Context, username: str = "alice") -> str:
    accounts.add_user(ctx, username, role=Role.ADMIN, password="correct horse battery")
    return sessions.start_session(ctx, username)


def _rows(ctx: Context) -> list[schema.WebSession]:
    with ctx.store.transaction() as session:
        return list(session.scalars(select(schema.WebSession)))


def test_a_session_names_its_user(ctx: Context) -> None:
    secret = _signed_in(ctx)
    found = sessions.resolve(ctx, secret)
    assert found is not None
    assert found.user.username == "alice"
    assert found.started_at == ctx.now()
    assert found.principal.actor == "user:alice"
    assert found.principal.via == "session"
    assert found.principal.is_admin
    assert found.csrf_token == sessions.csrf_token_for(secret)


def test_only_the_hash_of_the_secret_is_stored(ctx: Context) -> None:
    secret = _signed_in(ctx)
    [row] = _rows(ctx)
    assert row.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()
    assert len(secret) >= 43


def test_unknown_and_malformed_secrets_resolve_to_nothing(ctx: Context) -> None:
    _signed_in(ctx)
    for secret in ("", "x", "a" * 10_000, "\udcff"):
        assert sessions.resolve(ctx, secret) is None
    sessions.end_session(ctx, "never issued")


def test_idle_sessions_end(ctx: Context, clock: FakeClock) -> None:
    secret = _signed_in(ctx)
    clock.advance(minutes=29, seconds=59)
    assert sessions.resolve(ctx, secret) is not None  # and refreshed
    clock.advance(minutes=29, seconds=59)
    assert sessions.resolve(ctx, secret) is not None
    clock.advance(minutes=30)
    assert sessions.resolve(ctx, secret) is None
    assert _rows(ctx) == []


def test_last_seen_is_refreshed_at_most_every_30_seconds(
    ctx: Context, clock: FakeClock
) -> None:
    secret = _signed_in(ctx)
    start = clock.now
    clock.advance(seconds=29)
    sessions.resolve(ctx, secret)
    assert _rows(ctx)[0].last_seen_at == start
    clock.advance(seconds=1)
    sessions.resolve(ctx, secret)
    assert _rows(ctx)[0].last_seen_at == clock.now


def test_sessions_end_after_twelve_hours_however_busy(
    ctx: Context, clock: FakeClock
) -> None:
    secret = _signed_in(ctx)
    for _ in range(12 * 4 - 1):
        clock.advance(minutes=15)
        assert sessions.resolve(ctx, secret) is not None
    clock.advance(minutes=15)
    assert sessions.resolve(ctx, secret) is None


def test_a_policy_sets_both_limits(ctx: Context, clock: FakeClock) -> None:
    policy = SessionPolicy(idle=dt.timedelta(minutes=5), absolute=dt.timedelta(hours=1))
    secret = _signed_in(ctx)
    clock.advance(minutes=5)
    assert sessions.resolve(ctx, secret, policy) is None


def test_stale_sessions_of_others_are_swept(ctx: Context, clock: FakeClock) -> None:
    abandoned = _signed_in(ctx, "alice")
    clock.advance(minutes=31)
    active = _signed_in(ctx, "bob")
    clock.advance(seconds=30)
    assert sessions.resolve(ctx, active) is not None
    assert len(_rows(ctx)) == 1
    assert sessions.resolve(ctx, abandoned) is None


def test_signing_out_ends_the_session_and_is_recorded(ctx: Context) -> None:
    secret = _signed_in(ctx)
    other = sessions.start_session(ctx, "alice")
    sessions.end_session(ctx, secret)
    assert sessions.resolve(ctx, secret) is None
    assert sessions.resolve(ctx, other) is not None
    sessions.end_session(ctx, secret)
    with ctx.store.transaction() as session:
        events = list(
            session.scalars(
                select(schema.Event).where(schema.Event.action == "user.logged_out")
            )
        )
    assert [(e.object_name, e.actor) for e in events] == [("alice", "test")]


def test_disabled_and_unknown_users_get_no_session(ctx: Context) -> None:
    _signed_in(ctx, "alice")
    accounts.add_user(ctx, "bob", role=Role.AUDITOR)
    accounts.disable_user(ctx, "bob")
    with pytest.raises(Conflict, match="disabled"):
        sessions.start_session(ctx, "bob")
    with pytest.raises(NotFound):
        sessions.start_session(ctx, "carol")


def test_csrf_tokens_belong_to_their_session() -> None:
    token = sessions.csrf_token_for("one secret")
    assert len(token) == 64
    assert sessions.csrf_token_for("one secret") == token
    assert sessions.csrf_matches("one secret", token)
    assert not sessions.csrf_matches("another secret", token)
    assert not sessions.csrf_matches("one secret", None)
    assert not sessions.csrf_matches("one secret", "")
    flipped = token[:-1] + ("1" if token[-1] == "0" else "0")
    assert not sessions.csrf_matches("one secret", flipped)
    assert not sessions.csrf_matches("one secret", "é" * 64)
