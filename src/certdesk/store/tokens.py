"""Stored API tokens: by id, by name, or by the SHA-256 of their secret."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from certdesk.errors import Ambiguous, NotFound
from certdesk.store import schema

Row = schema.ApiToken
KIND = "api token"


def get_token(session: Session, ref: str) -> Row:
    """The token whose id is `ref`, else the one in use named `ref`.

    A name may belong to several revoked tokens and one in use; the one in use
    wins. Among revoked tokens only, a shared name is Ambiguous.
    """
    ref = ref.strip()
    if ref.isdigit():
        row = session.get(Row, int(ref))
        if row is not None:
            return row
    named = list(session.scalars(select(Row).where(Row.name == ref).order_by(Row.id)))
    active = [r for r in named if r.revoked_at is None]
    if active:
        return active[0]
    if len(named) == 1:
        return named[0]
    if named:
        raise Ambiguous(KIND, ref, [r.id for r in named])
    raise NotFound(KIND, ref)


def find_active_named(session: Session, name: str) -> Row | None:
    return session.scalar(select(Row).where(Row.name == name, Row.revoked_at.is_(None)))


def find_by_secret(session: Session, secret_sha256: str) -> Row | None:
    return session.scalar(select(Row).where(Row.secret_sha256 == secret_sha256))


def list_tokens(session: Session) -> list[Row]:
    return list(session.scalars(select(Row).order_by(Row.id)))
