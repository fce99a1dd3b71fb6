"""Stored private keys: sealed on the way in, unsealed only when used."""

import datetime as dt
import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from certdesk.errors import NotFound
from certdesk.pki.keys import (
    HeldKey,
    describe_public_key,
    load_sealed_key,
    private_key_der,
    spki_sha256,
)
from certdesk.store import schema
from certdesk.store.schema import CHUNK
from certdesk.store.sealing import MasterKey


def add_key(
    session: Session, master_key: MasterKey, key: HeldKey, now: dt.datetime
) -> schema.Key:
    """Seal and store `key`; a key already stored is returned as it is."""
    public = key.public_key()
    identity = spki_sha256(public)
    existing = find_key(session, identity)
    if existing is not None:
        return existing

    key_id = uuid.uuid4().hex
    description = describe_public_key(public)
    row = schema.Key(
        id=key_id,
        algorithm=description.algorithm,
        size=description.size,
        spki_sha256=identity,
        sealed=master_key.seal(private_key_der(key), key_id),
        created_at=now,
    )
    session.add(row)
    # Flushed now: rows that refer to the key are inserted in the same flush
    # otherwise, and the ORM does not order them by foreign key.
    session.flush()
    return row


def find_key(session: Session, spki: str) -> schema.Key | None:
    return session.scalar(select(schema.Key).where(schema.Key.spki_sha256 == spki))


def find_keys(session: Session, spkis: Iterable[str]) -> dict[str, schema.Key]:
    """Stored keys by SPKI hash, for many at once."""
    wanted = list(set(spkis))
    found: dict[str, schema.Key] = {}
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        query = select(schema.Key).where(schema.Key.spki_sha256.in_(chunk))
        found.update((row.spki_sha256, row) for row in session.scalars(query))
    return found


def load_key(session: Session, master_key: MasterKey, key_id: str) -> HeldKey:
    row = session.get(schema.Key, key_id)
    if row is None:
        raise NotFound("key", key_id)
    return load_sealed_key(master_key.unseal(row.sealed, row.id))


def delete_key_if_unused(session: Session, key_id: str) -> bool:
    """Remove a key nothing refers to any more; True when it was removed."""
    used = session.scalar(
        select(schema.Certificate.id).where(schema.Certificate.key_id == key_id)
    ) or session.scalar(
        select(schema.Request.id).where(schema.Request.key_id == key_id)
    )
    if used is not None:
        return False
    row = session.get(schema.Key, key_id)
    if row is not None:
        session.delete(row)
    return True
