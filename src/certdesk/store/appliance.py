"""The appliance-wide row: the default certificate and the master-key check."""

import datetime as dt

from sqlalchemy.orm import Session

from certdesk.errors import DataDirError
from certdesk.store import schema
from certdesk.store.sealing import MasterKey

_KEY_CHECK = b"certdesk master key check"
_ROW_ID = 1


def create(
    session: Session, master_key: MasterKey, now: dt.datetime
) -> schema.Appliance:
    row = schema.Appliance(
        id=_ROW_ID, created_at=now, key_check=master_key.seal(_KEY_CHECK, "appliance")
    )
    session.add(row)
    return row


def find(session: Session) -> schema.Appliance | None:
    return session.get(schema.Appliance, _ROW_ID)


def get(session: Session, master_key: MasterKey) -> schema.Appliance:
    """The row, after proving that `master_key` is the one this store uses."""
    row = find(session)
    if row is None:
        raise DataDirError("the data directory is not initialised: run 'certdesk init'")
    master_key.unseal(row.key_check, "appliance")
    return row


def default_certificate_id(session: Session) -> int | None:
    row = find(session)
    return row.default_certificate_id if row else None
