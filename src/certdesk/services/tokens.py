"""API tokens for scripts: a bearer secret shown once, stored as its SHA-256.

A token acts with its own role, not as the person who made it, and lives until
it is revoked. Revoked tokens stay listed so that the audit trail can name
them, and their names may be used again.
"""

import datetime as dt
import hashlib
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from certdesk.errors import Conflict, InvalidInput
from certdesk.pki.certificates import printable
from certdesk.services import audit
from certdesk.services.accounts import Principal, Role
from certdesk.services.context import Context
from certdesk.services.views import json_time
from certdesk.store import schema
from certdesk.store import tokens as stored

log = logging.getLogger(__name__)

TOKEN_PREFIX = "cdk_"  # noqa: S105 (a label, not a secret)
MAX_NAME = 64
# Longer values are not ours: refuse them before hashing.
MAX_SECRET = 256
# last_used_at is refreshed at most this often, to spare writes.
TOUCH_EVERY = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class TokenView:
    id: int
    name: str
    role: Role
    created_at: dt.datetime
    created_by: str
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "role": str(self.role),
            "created_at": json_time(self.created_at),
            "created_by": self.created_by,
            "last_used_at": json_time(self.last_used_at),
            "revoked_at": json_time(self.revoked_at),
        }


def create_token(ctx: Context, name: str, *, role: Role) -> tuple[TokenView, str]:
    """A new token; the secret is returned here once and never again."""
    name = _check_name(name)
    role = Role(role)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = ctx.now()

    with ctx.store.transaction() as session:
        if stored.find_active_named(session, name) is not None:
            raise _in_use(name)
        row = schema.ApiToken(
            name=name,
            secret_sha256=_digest(secret),
            role=str(role),
            created_at=now,
            created_by=ctx.actor,
        )
        session.add(row)
        try:
            session.flush()
        except IntegrityError as exc:
            raise _in_use(name) from exc
        audit.record(ctx, session, now, "token.created", row, {"role": str(role)})
        view = _view(row)
    log.info("api token created", extra={"token": name})
    return view, secret


def list_tokens(ctx: Context) -> list[TokenView]:
    """Every token, revoked ones included, oldest first."""
    with ctx.store.transaction() as session:
        return [_view(row) for row in stored.list_tokens(session)]


def revoke_token(ctx: Context, ref: str) -> TokenView:
    """Refuse the token from now on. Revoking a revoked token changes nothing."""
    now = ctx.now()
    with ctx.store.transaction() as session:
        row = stored.get_token(session, ref)
        if row.revoked_at is None:
            row.revoked_at = now
            audit.record(ctx, session, now, "token.revoked", row, {})
            log.info("api token revoked", extra={"token": row.name})
        return _view(row)


def authenticate(ctx: Context, secret: str) -> Principal | None:
    """Who a bearer secret speaks for; None if it is unknown or revoked."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > MAX_SECRET:
        return None
    now = ctx.now()
    with ctx.store.transaction() as session:
        row = stored.find_by_secret(session, _digest(secret))
        if row is None or row.revoked_at is not None:
            return None
        if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
            row.last_used_at = now
        return Principal(row.name, Role(row.role), "token")


def _check_name(name: str) -> str:
    value = name.strip()
    if not value:
        raise InvalidInput("name", "a token name is required, e.g. the script's name")
    if len(value) > MAX_NAME or printable(value) != value:
        raise InvalidInput(
            "name", f"use at most {MAX_NAME} characters, without control characters"
        )
    if value.isdigit():
        raise InvalidInput("name", "must not be only digits: ids are numbers")
    return value


def _in_use(name: str) -> Conflict:
    return Conflict(
        f"an API token named {name!r} is in use; choose another name, or revoke "
        f"it first (certdesk token revoke {name!r})"
    )


def _digest(secret: str) -> str:
    """High-entropy secrets need no slow hash: SHA-256 is enough to store."""
    return hashlib.sha256(secret.encode(errors="replace")).hexdigest()


def _view(row: schema.ApiToken) -> TokenView:
    return TokenView(
        id=row.id,
        name=row.name,
        role=Role(row.role),
        created_at=row.created_at,
        created_by=row.created_by,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )
