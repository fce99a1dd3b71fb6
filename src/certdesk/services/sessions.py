"""Browser sessions: the cookie holds a random secret, the store its SHA-256.

A stolen database therefore opens no session. A session ends after
`SessionPolicy.idle` without a request, after `SessionPolicy.absolute` in any
case, and at once when its user is disabled or their password is reset. The
CSRF token is derived from the secret, so it needs no storage of its own.
"""

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from certdesk.errors import Conflict
from certdesk.services import audit
from certdesk.services.accounts import (
    Principal,
    UserView,
    canonical_username,
    user_view,
)
from certdesk.services.context import Context
from certdesk.store import schema, web_sessions
from certdesk.store import users as stored_users

# A request refreshes last_seen_at at most this often, to spare writes.
TOUCH_EVERY = dt.timedelta(seconds=30)
# Longer values are not ours: refuse them before hashing.
MAX_SECRET = 256
_CSRF_MESSAGE = b"certdesk csrf"


@dataclass(frozen=True)
class SessionPolicy:
    idle: dt.timedelta = dt.timedelta(minutes=30)
    absolute: dt.timedelta = dt.timedelta(hours=12)


@dataclass(frozen=True)
class SessionView:
    user: UserView
    csrf_token: str
    started_at: dt.datetime
    principal: Principal


def start_session(ctx: Context, username: str) -> str:
    """A new session for a user who has just signed in; returns the cookie value."""
    secret = secrets.token_urlsafe(32)
    now = ctx.now()
    with ctx.store.transaction() as session:
        user = stored_users.get_user(session, canonical_username(username))
        if user.disabled:
            raise Conflict(
                f"user {user.username} is disabled; enable the account first "
                f"(certdesk user enable {user.username})"
            )
        session.add(
            schema.WebSession(
                secret_sha256=_digest(secret),
                user_id=user.id,
                started_at=now,
                last_seen_at=now,
            )
        )
    return secret


def resolve(
    ctx: Context, secret: str, policy: SessionPolicy = SessionPolicy()
) -> SessionView | None:
    """The session a cookie names, or None when it is unknown or has ended.

    Sessions that ended by `policy` are deleted when found, and swept for
    every user whenever a session's last_seen_at is refreshed.
    """
    if not secret or len(secret) > MAX_SECRET:
        return None
    now = ctx.now()
    with ctx.store.transaction() as session:
        found = web_sessions.find_session(session, _digest(secret))
        if found is None:
            return None
        row, user = found
        if (
            user.disabled
            or now - row.last_seen_at >= policy.idle
            or now - row.started_at >= policy.absolute
        ):
            session.delete(row)
            return None

        if now - row.last_seen_at >= TOUCH_EVERY:
            row.last_seen_at = now
            web_sessions.delete_stale(
                session,
                seen_before=now - policy.idle,
                started_before=now - policy.absolute,
            )
        view = user_view(user, now)
        return SessionView(
            user=view,
            csrf_token=csrf_token_for(secret),
            started_at=row.started_at,
            principal=Principal(view.username, view.role, "session"),
        )


def end_session(ctx: Context, secret: str) -> None:
    """Sign out: forget the session (a no-op for one that has already ended)."""
    if not secret or len(secret) > MAX_SECRET:
        return
    now = ctx.now()
    with ctx.store.transaction() as session:
        found = web_sessions.find_session(session, _digest(secret))
        if found is None:
            return
        row, user = found
        session.delete(row)
        audit.record(ctx, session, now, "user.logged_out", user, {})


def csrf_token_for(secret: str) -> str:
    """The form token for a session: only the holder of the cookie can make it."""
    return hmac.new(secret.encode(), _CSRF_MESSAGE, hashlib.sha256).hexdigest()


def csrf_matches(secret: str, submitted: str | None) -> bool:
    if not secret or not submitted:
        return False
    expected = csrf_token_for(secret).encode()
    return hmac.compare_digest(expected, submitted.encode(errors="replace"))


def _digest(secret: str) -> str:
    """High-entropy secrets need no slow hash: SHA-256 is enough to store."""
    return hashlib.sha256(secret.encode(errors="replace")).hexdigest()
