"""ACME HTTP-01 answers, kept in the store so that any node can serve them."""

from sqlalchemy.orm import Session

from certdesk.store import schema


def find_challenge(session: Session, token: str) -> schema.AcmeChallenge | None:
    return session.get(schema.AcmeChallenge, token)
