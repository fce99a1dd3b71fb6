"""User accounts for the web interface: who may sign in, and with what role.

Passwords are kept only as Argon2id hashes and never reach an event, a log
line or an error. Signing in is throttled per (client, user name), in the
store so that every worker process and node counts the same failures: after
the third consecutive failure each attempt waits 1, 2, 4 ... seconds after
the last one, and the tenth locks that client out of that name for 15
minutes; once locked, every further failure locks it again until a success,
a password reset, or a day without failures.

Per client, so that a stranger failing on purpose cannot lock the real user
out from elsewhere; the same for unknown names as for accounts, so that the
answers never tell whether a name exists.
"""

import datetime as dt
import functools
import hashlib
import logging
import math
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from certdesk.errors import Conflict, InvalidInput, LoginRefused
from certdesk.services import audit
from certdesk.services.context import Context
from certdesk.services.views import json_time
from certdesk.store import events, schema, throttle, web_sessions
from certdesk.store import users as stored

log = logging.getLogger(__name__)


class Role(StrEnum):
    ADMIN = "admin"
    AUDITOR = "auditor"


MIN_PASSWORD = 12
MAX_PASSWORD = 1024
MAX_USERNAME = 64
FIRST_ADMIN = "admin"

# Throttle: free attempts, then waits of 2**(failures - 3) s; lock at LOCK_AFTER.
FREE_FAILURES = 3
LOCK_AFTER = 10
LOCK_FOR = dt.timedelta(minutes=15)
# A counter with no failure for this long is forgotten (and swept on write).
FORGET_AFTER = dt.timedelta(days=1)

WRONG_LOGIN = "user name or password is not correct; check both and try again"
WRONG_CURRENT = (
    "your password is not correct; type the password you sign in with and try again"
)

_USERNAME = re.compile(r"[a-z0-9._-]{1,64}")
# One-time passwords are read aloud and typed: no 0/o, 1/l/i.
_OTP_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_OTP_GROUPS = 4
_OTP_GROUP = 5

_hasher = PasswordHasher()


@dataclass(frozen=True)
class UserView:
    id: int
    username: str
    email: str | None
    role: Role
    disabled: bool
    must_change_password: bool
    created_at: dt.datetime
    last_login_at: dt.datetime | None
    # While some client is locked out of the account: how many, and until
    # when the last of those locks lasts.
    locked_until: dt.datetime | None = None
    locked_clients: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "email": self.email,
            "role": str(self.role),
            "disabled": self.disabled,
            "must_change_password": self.must_change_password,
            "created_at": json_time(self.created_at),
            "last_login_at": json_time(self.last_login_at),
            "locked_until": json_time(self.locked_until),
            "locked_clients": self.locked_clients,
        }


@dataclass(frozen=True)
class Principal:
    """Who is calling the web layer: a signed-in user, or an API token.

    For a token, `username` holds the token's name.
    """

    username: str
    role: Role
    via: str

    @property
    def actor(self) -> str:
        kind = "token" if self.via == "token" else "user"
        return f"{kind}:{self.username}"

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


def canonical_username(username: str) -> str:
    """User names are compared in lower case, without surrounding spaces."""
    return username.strip().lower()


def session_client(username: str) -> str:
    """The throttle's client for re-authentication inside a signed-in session.

    One counter per account, apart from every sign-in address: a stolen
    session guessing the password is slowed and locked like anyone, but
    cannot lock the owner out of signing in.
    """
    return f"session:{canonical_username(username)}"


def check_password_rules(password: str, username: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(
            "password",
            f"use at least {MIN_PASSWORD} characters; a few words together are "
            "easy to remember",
        )
    if len(password) > MAX_PASSWORD:
        raise InvalidInput("password", f"use at most {MAX_PASSWORD} characters")
    if password.strip().lower() == canonical_username(username):
        raise InvalidInput("password", "must not be the user name; choose another")


def add_user(
    ctx: Context,
    username: str,
    *,
    role: Role,
    email: str | None = None,
    password: str | None = None,
) -> tuple[UserView, str | None]:
    """A new account; without `password`, a one-time one to change at sign-in.

    Returns the one-time password (shown once, never stored in clear), or
    None when the caller chose the password.
    """
    name = _check_username(username)
    role = Role(role)
    email = _check_email(email)
    one_time = password is None
    if password is None:
        password = _one_time_password()
    else:
        check_password_rules(password, name)
    hashed = _hasher.hash(password)
    now = ctx.now()

    with ctx.store.transaction() as session:
        if stored.find_user(session, name) is not None:
            raise _taken(name)
        row = schema.User(
            username=name,
            email=email,
            role=str(role),
            password_hash=hashed,
            must_change_password=one_time,
            disabled=False,
            created_at=now,
            password_changed_at=None if one_time else now,
        )
        session.add(row)
        try:
            session.flush()
        except IntegrityError as exc:
            raise _taken(name) from exc
        audit.record(
            ctx,
            session,
            now,
            "user.created",
            row,
            {"role": str(role), "email": email, "must_change_password": one_time},
        )
        view = user_view(row, now)
    log.info("user created", extra={"user": name})
    return view, password if one_time else None


def list_users(ctx: Context) -> list[UserView]:
    now = ctx.now()
    with ctx.store.transaction() as session:
        locks = throttle.locks(session, now)
        return [
            user_view(row, now, locks.get(row.username))
            for row in stored.list_users(session)
        ]


def get_user(ctx: Context, username: str) -> UserView:
    now = ctx.now()
    with ctx.store.transaction() as session:
        return _view_with_locks(
            session, stored.get_user(session, canonical_username(username)), now
        )


def set_email(ctx: Context, username: str, email: str | None) -> UserView:
    """Set or (with None or an empty value) clear the account's email address."""
    email = _check_email(email)
    now = ctx.now()
    with ctx.store.transaction() as session:
        row = stored.get_user(session, canonical_username(username))
        if row.email != email:
            row.email = email
            audit.record(ctx, session, now, "user.email_changed", row, {"email": email})
        return user_view(row, now)


def disable_user(ctx: Context, username: str) -> UserView:
    """Refuse the account's sign-ins and end its sessions; nothing is deleted.

    The last enabled administrator cannot be disabled, or nobody could manage
    accounts from the web interface any more.
    """
    now = ctx.now()
    with ctx.store.transaction() as session:
        row = stored.get_user(session, canonical_username(username), lock=True)
        if row.disabled:
            return user_view(row, now)

        if row.role == Role.ADMIN:
            admins = stored.enabled_with_role(session, str(Role.ADMIN))
            if [a.id for a in admins] == [row.id]:
                raise Conflict(
                    f"{row.username} is the only enabled administrator; add or "
                    "enable another administrator first "
                    "(certdesk user add NAME --role admin)"
                )

        row.disabled = True
        ended = web_sessions.end_for_user(session, row.id)
        audit.record(ctx, session, now, "user.disabled", row, {"sessions_ended": ended})
        view = user_view(row, now)
    log.info("user disabled", extra={"user": view.username})
    return view


def enable_user(ctx: Context, username: str) -> UserView:
    now = ctx.now()
    with ctx.store.transaction() as session:
        row = stored.get_user(session, canonical_username(username), lock=True)
        if row.disabled:
            row.disabled = False
            audit.record(ctx, session, now, "user.enabled", row, {})
        return user_view(row, now)


def reset_password(ctx: Context, username: str) -> str:
    """A new one-time password; every client's lock on the account is lifted
    and every session ends."""
    password = _one_time_password()
    hashed = _hasher.hash(password)
    now = ctx.now()

    with ctx.store.transaction() as session:
        row = stored.get_user(session, canonical_username(username), lock=True)
        row.password_hash = hashed
        row.must_change_password = True
        row.password_changed_at = now
        throttle.forget_user(session, row.username)
        ended = web_sessions.end_for_user(session, row.id)
        audit.record(
            ctx, session, now, "user.password_reset", row, {"sessions_ended": ended}
        )
    log.info("password reset", extra={"user": row.username})
    return password


def change_password(
    ctx: Context, username: str, current: str, new: str, *, client: str = ""
) -> UserView:
    """The user's own change: proves the current password, which counts as a
    sign-in attempt for the throttle (as `client`, by default the account's
    `session_client`), then sets the new one.

    Every session of the user ends: one opened by whoever else knew the old
    password must not outlive it. The caller starts a new one for the user.
    """
    check_password_rules(new, username)
    if new == current:
        raise InvalidInput(
            "password",
            "the new password is the same as the current one; choose another",
        )
    hashed = _hasher.hash(new)

    def change(session: Session, row: schema.User, now: dt.datetime) -> None:
        row.password_hash = hashed
        row.must_change_password = False
        row.password_changed_at = now
        ended = web_sessions.end_for_user(session, row.id)
        details = {"sessions_ended": ended}
        audit.record(ctx, session, now, "user.password_changed", row, details)

    client = client or session_client(username)
    return _authenticate(ctx, username, current, WRONG_CURRENT, change, client)


def confirm_password(
    ctx: Context, username: str, password: str, *, client: str = ""
) -> None:
    """Ask a signed-in user for their password again, before exporting a key;
    throttled as `client`, by default the account's `session_client`."""
    client = client or session_client(username)
    _authenticate(ctx, username, password, WRONG_CURRENT, None, client)


def log_in(ctx: Context, username: str, password: str, *, client: str = "") -> UserView:
    """Check a sign-in; raises LoginRefused, which never says if the name exists.

    `client` (the web page passes the address it saw) picks the throttle's
    counter: failures from one client never slow or lock another. The caller
    still has to look at `must_change_password` on the result.
    """

    def signed_in(session: Session, row: schema.User, now: dt.datetime) -> None:
        row.last_login_at = now
        audit.record(ctx, session, now, "user.logged_in", row, {})

    view = _authenticate(ctx, username, password, WRONG_LOGIN, signed_in, client)
    log.info("user signed in", extra={"user": view.username})
    return view


def ensure_first_admin(ctx: Context) -> str | None:
    """On a store with no account at all, create "admin" and return its
    one-time password; otherwise (or if another process won the race) None."""
    with ctx.store.transaction() as session:
        if stored.count_users(session):
            return None
    try:
        _, password = add_user(ctx, FIRST_ADMIN, role=Role.ADMIN)
    except Conflict:
        return None
    return password


OnSuccess = Callable[[Session, schema.User, dt.datetime], None]


def _authenticate(
    ctx: Context,
    username: str,
    password: str,
    wrong: str,
    on_success: OnSuccess | None,
    client: str,
) -> UserView:
    """The password check behind sign-in, re-authentication and change.

    Failures are recorded and committed before the refusal is raised, so the
    throttle sees them. Unknown names and disabled accounts cost one Argon2
    verification, as a wrong password does, and are counted, delayed and
    locked alike, with the same answers.
    """
    now = ctx.now()
    name = canonical_username(username)
    refusal: LoginRefused | None = None

    with ctx.store.transaction() as session:
        row = None
        if _USERNAME.fullmatch(name):
            row = stored.find_user(session, name, lock=True)
        counter = throttle.claim(
            session, throttle_key(client, name), row.username if row else None
        )
        refusal = _refusal(ctx, session, row, counter, password, wrong, now)
        if refusal is None:
            assert row is not None, "only a known account can succeed"
            throttle.forget(session, counter)
            if _hasher.check_needs_rehash(row.password_hash):
                row.password_hash = _hasher.hash(password)
            if on_success is not None:
                on_success(session, row, now)
            view = _view_with_locks(session, row, now)

    if refusal is not None:
        raise refusal
    return view


def throttle_key(client: str, name: str) -> str:
    """SHA-256 hex of client and canonical name: the name may be a password
    typed into the wrong field, so it is never stored in clear."""
    material = f"{client}\0{canonical_username(name)}"
    return hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()


def _refusal(
    ctx: Context,
    session: Session,
    row: schema.User | None,
    counter: schema.SignInThrottle,
    password: str,
    wrong: str,
    now: dt.datetime,
) -> LoginRefused | None:
    """Why this attempt fails, with the failure recorded; None to let it in.

    `row` is None for an unknown name: everything but the event's object is
    the same as for a wrong password on an account.
    """

    def record(action: str, details: dict[str, Any]) -> None:
        if row is not None:
            audit.record(ctx, session, now, action, row, details)
            return
        events.record(
            session,
            at=now,
            actor=ctx.actor,
            action=action,
            object_type="user",
            # The attempted name is not kept: people type their password
            # into the name field, and the trail must never hold one.
            object_name=None,
            details=details,
        )

    def failed(reason: str) -> None:
        record("user.login_failed", {"failures": counter.failures, "reason": reason})

    if counter.last_failed_at is not None and now - counter.last_failed_at >= (
        FORGET_AFTER
    ):
        _clear(counter)

    waiting, wait = _waiting(counter, now)
    if waiting is not None:
        failed(waiting)
        return LoginRefused(_too_many(wait), retry_after=wait)

    if row is None:
        _verify(_dummy_hash(), password)
        reason = "unknown-user"
    elif row.disabled:
        _verify(_dummy_hash(), password)
        reason = "disabled"
    elif _verify(row.password_hash, password):
        return None
    else:
        reason = "password"

    counter.failures += 1
    counter.last_failed_at = now
    throttle.sweep(session, now - FORGET_AFTER, keep=counter.key_sha256)
    failed(reason)
    if counter.failures >= LOCK_AFTER:
        counter.locked_until = now + LOCK_FOR
        until = json_time(counter.locked_until)
        record("user.locked", {"failures": counter.failures, "until": until})
        log.warning(
            "sign-in locked for a client",
            extra={"user": row.username if row else None, "actor": ctx.actor},
        )
        wait = _seconds(LOCK_FOR)
        return LoginRefused(_too_many(wait), retry_after=wait)
    if counter.failures >= FREE_FAILURES:
        return LoginRefused(wrong, retry_after=_backoff(counter.failures))
    return LoginRefused(wrong)


def _waiting(
    counter: schema.SignInThrottle, now: dt.datetime
) -> tuple[str | None, int]:
    """("locked" or "throttled", seconds to wait), or (None, 0) to check."""
    if counter.locked_until is not None and now < counter.locked_until:
        return "locked", _seconds(counter.locked_until - now)
    if (
        FREE_FAILURES <= counter.failures < LOCK_AFTER
        and counter.last_failed_at is not None
    ):
        allowed = counter.last_failed_at + dt.timedelta(
            seconds=_backoff(counter.failures)
        )
        if now < allowed:
            return "throttled", _seconds(allowed - now)
    return None, 0


def _backoff(failures: int) -> int:
    return int(2 ** (failures - FREE_FAILURES))


def _seconds(delta: dt.timedelta) -> int:
    return max(1, math.ceil(delta.total_seconds()))


def _too_many(wait: int) -> str:
    if wait >= 120:
        text = f"{math.ceil(wait / 60)} minutes"
    else:
        text = f"{wait} second" + ("" if wait == 1 else "s")
    return f"too many failed attempts; try again in {text}"


def _clear(counter: schema.SignInThrottle) -> None:
    counter.failures = 0
    counter.last_failed_at = None
    counter.locked_until = None


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _dummy_hash() -> str:
    """A hash nobody knows the password of, made with the current parameters,
    so that checking it costs what checking a real one does."""
    return _hasher.hash(secrets.token_urlsafe(32))


def _one_time_password() -> str:
    """About 99 bits in four groups of five, e.g. "k7m2q-..."; easy to type."""
    groups = (
        "".join(secrets.choice(_OTP_ALPHABET) for _ in range(_OTP_GROUP))
        for _ in range(_OTP_GROUPS)
    )
    return "-".join(groups)


def _check_username(username: str) -> str:
    name = canonical_username(username)
    if not _USERNAME.fullmatch(name):
        raise InvalidInput(
            "username",
            f"use 1 to {MAX_USERNAME} characters: letters, digits, '.', '_' or '-'",
        )
    return name


def _check_email(email: str | None) -> str | None:
    """A light check only: the address is for people to read, not to verify."""
    if email is None or not email.strip():
        return None
    value = email.strip()
    local, at, domain = value.partition("@")
    if (
        not at
        or not local
        or not domain
        or "@" in domain
        or any(c.isspace() for c in value)
        or not value.isprintable()
        or len(value) > 254
    ):
        raise InvalidInput(
            "email", f"{value!r} is not an email address (like name@example.com)"
        )
    return value


def _taken(name: str) -> Conflict:
    return Conflict(
        f"user {name!r} already exists; choose another name, or give them a new "
        f"password with 'certdesk user reset-password {name}'"
    )


def _view_with_locks(session: Session, row: schema.User, now: dt.datetime) -> UserView:
    return user_view(
        row, now, throttle.locks(session, now, row.username).get(row.username)
    )


def user_view(
    row: schema.User,
    now: dt.datetime,
    locks: tuple[int, dt.datetime] | None = None,
) -> UserView:
    """The account as interfaces show it; `locks` is (clients locked out, until
    when), from `throttle.locks` at `now`."""
    clients, locked = locks if locks is not None else (0, None)
    return UserView(
        id=row.id,
        username=row.username,
        email=row.email,
        role=Role(row.role),
        disabled=row.disabled,
        must_change_password=row.must_change_password,
        created_at=row.created_at,
        last_login_at=row.last_login_at,
        locked_until=locked,
        locked_clients=clients,
    )
