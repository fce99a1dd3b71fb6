"""API tokens: shown once, stored hashed, named uniquely while in use, revoked."""

import hashlib
import json

import pytest
from sqlalchemy import select

from certdesk.errors import Ambiguous, Conflict, InvalidInput, NotFound
from certdesk.services import tokens
from certdesk.services.accounts import Role
from certdesk.services.context import Context
from certdesk.store import schema
from tests.conftest import FakeClock


def test_a_token_authenticates_with_its_own_role(ctx: Context) -> None:
    view, secret = tokens.create_token(ctx, "backup script", role=Role.AUDITOR)
    assert secret.startswith(tokens.TOKEN_PREFIX)
    assert len(secret) >= len(tokens.TOKEN_PREFIX) + 43
    assert view.created_by == "test"
    assert view.role is Role.AUDITOR

    principal = tokens.authenticate(ctx, secret)
    assert principal is not None
    assert principal.username == "backup script"
    assert principal.actor == "token:backup script"
    assert principal.via == "token"
    assert not principal.is_admin


def test_only_the_hash_is_stored_and_no_secret_reaches_an_event(
    ctx: Context,
) -> None:
    _view, secret = tokens.create_token(ctx, "ci", role=Role.ADMIN)
    tokens.revoke_token(ctx, "ci")
    with ctx.store.transaction() as session:
        row = session.scalar(select(schema.ApiToken))
        assert row is not None
        assert row.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()
        events = list(session.scalars(select(schema.Event)))
    dumped = json.dumps([[e.object_name, e.details] for e in events])
    assert secret not in dumped
    assert secret[len(tokens.TOKEN_PREFIX) :] not in dumped
    assert [(e.action, e.object_type) for e in events[-2:]] == [
        ("token.created", "token"),
        ("token.revoked", "token"),
    ]


def test_unknown_and_foreign_secrets_are_refused(ctx: Context) -> None:
    _view, secret = tokens.create_token(ctx, "ci", role=Role.ADMIN)
    assert tokens.authenticate(ctx, secret[:-1]) is None
    assert tokens.authenticate(ctx, secret[len(tokens.TOKEN_PREFIX) :]) is None
    assert tokens.authenticate(ctx, "") is None
    assert tokens.authenticate(ctx, "cdk_" + "a" * 1000) is None


def test_a_revoked_token_is_refused(ctx: Context, clock: FakeClock) -> None:
    view, secret = tokens.create_token(ctx, "ci", role=Role.ADMIN)
    clock.advance(minutes=1)
    revoked = tokens.revoke_token(ctx, str(view.id))
    assert revoked.revoked_at == clock.now
    assert tokens.authenticate(ctx, secret) is None
    # Revoking again changes nothing.
    assert tokens.revoke_token(ctx, "ci").revoked_at == revoked.revoked_at


def test_names_are_unique_among_tokens_in_use(ctx: Context) -> None:
    first, _ = tokens.create_token(ctx, "ci", role=Role.ADMIN)
    with pytest.raises(Conflict, match="in use"):
        tokens.create_token(ctx, " ci ", role=Role.AUDITOR)
    tokens.revoke_token(ctx, "ci")
    second, secret = tokens.create_token(ctx, "ci", role=Role.AUDITOR)

    # The name now means the token in use; the old one is named by id.
    assert tokens.revoke_token(ctx, "ci").id == second.id
    with pytest.raises(Ambiguous):
        tokens.revoke_token(ctx, "ci")
    assert tokens.revoke_token(ctx, str(first.id)).id == first.id
    assert [t.name for t in tokens.list_tokens(ctx)] == ["ci", "ci"]
    assert tokens.authenticate(ctx, secret) is None


def test_names_are_checked(ctx: Context) -> None:
    for bad in ("", "   ", "x" * 65, "line\nbreak", "12"):
        with pytest.raises(InvalidInput) as caught:
            tokens.create_token(ctx, bad, role=Role.ADMIN)
        assert caught.value.field == "name"
    with pytest.raises(NotFound, match="certdesk token list"):
        tokens.revoke_token(ctx, "nothing")


def test_last_used_is_refreshed_at_most_once_a_minute(
    ctx: Context, clock: FakeClock
) -> None:
    view, secret = tokens.create_token(ctx, "ci", role=Role.ADMIN)
    assert view.last_used_at is None
    tokens.authenticate(ctx, secret)
    first = clock.now
    clock.advance(seconds=59)
    tokens.authenticate(ctx, secret)
    [listed] = tokens.list_tokens(ctx)
    assert listed.last_used_at == first
    clock.advance(seconds=1)
    tokens.authenticate(ctx, secret)
    [listed] = tokens.list_tokens(ctx)
    assert listed.last_used_at == clock.now
    assert listed.as_json()["last_used_at"] == "2026-06-01T12:01:00Z"
    assert set(listed.as_json()) == {
        "id",
        "name",
        "role",
        "created_at",
        "created_by",
        "last_used_at",
        "revoked_at",
    }
