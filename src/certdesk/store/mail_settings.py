"""The mail relay set in the web interface: one row, its password sealed.

The password is sealed under the master key with its own associated data, so
a sealed private key copied into this column (or this value into a key row)
does not open.
"""

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from certdesk.store import schema
from certdesk.store.sealing import MasterKey

_ROW_ID = 1
_SEALED_AS = "smtp-password"


@dataclass(frozen=True)
class Stored:
    """The row's values, with the password opened (never shown by repr)."""

    host: str
    port: int
    security: str
    username: str | None
    password: str | None = field(repr=False)
    from_address: str
    ca_bundle_pem: str | None = field(repr=False)
    updated_at: dt.datetime
    updated_by: str


def find(session: Session, master_key: MasterKey) -> Stored | None:
    row = session.get(schema.SmtpSettings, _ROW_ID)
    if row is None:
        return None
    password = None
    if row.password_sealed is not None:
        password = master_key.unseal(row.password_sealed, _SEALED_AS).decode()
    return Stored(
        host=row.host,
        port=row.port,
        security=row.security,
        username=row.username,
        password=password,
        from_address=row.from_address,
        ca_bundle_pem=row.ca_bundle_pem,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


def put(session: Session, master_key: MasterKey, values: Stored) -> None:
    """Write the one row, sealing the password afresh."""
    row = session.get(schema.SmtpSettings, _ROW_ID)
    if row is None:
        row = schema.SmtpSettings(id=_ROW_ID)
        session.add(row)
    row.host = values.host
    row.port = values.port
    row.security = values.security
    row.username = values.username
    row.password_sealed = (
        master_key.seal(values.password.encode(), _SEALED_AS)
        if values.password is not None
        else None
    )
    row.from_address = values.from_address
    row.ca_bundle_pem = values.ca_bundle_pem
    row.updated_at = values.updated_at
    row.updated_by = values.updated_by
    session.flush()


def remove(session: Session) -> bool:
    """Delete the row; False when there was none."""
    row = session.get(schema.SmtpSettings, _ROW_ID)
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True
