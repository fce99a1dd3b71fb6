"""Stored certificates and the links that make up their chains."""

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from certdesk.store import schema
from certdesk.store.references import by_reference
from certdesk.store.schema import CHUNK

Row = schema.Certificate


def get_certificate(session: Session, ref: str) -> Row:
    """By id, full SHA-256 fingerprint, or friendly name when that is unique."""
    ref = ref.strip()
    if len(ref) == 64 and not ref.isdigit():
        row = session.scalar(select(Row).where(Row.fingerprint_sha256 == ref.lower()))
        if row is not None:
            return row
    return by_reference(session, Row, "certificate", ref)


def by_fingerprint(session: Session, fingerprints: Iterable[str]) -> dict[str, Row]:
    wanted = list(set(fingerprints))
    found: dict[str, Row] = {}
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        for row in session.scalars(
            select(Row).where(Row.fingerprint_sha256.in_(chunk))
        ):
            found[row.fingerprint_sha256] = row
    return found


def list_certificates(session: Session, roles: Sequence[str] = ()) -> list[Row]:
    query = select(Row).order_by(Row.id)
    if roles:
        query = query.where(Row.role.in_(roles))
    return list(session.scalars(query))


def with_keys(session: Session) -> list[Row]:
    """Certificates whose private key is held: those that can be served."""
    return list(session.scalars(select(Row).where(Row.key_id.is_not(None))))


def with_spki(session: Session, spki: str) -> list[Row]:
    return with_spkis(session, [spki]).get(spki, [])


def with_spkis(session: Session, spkis: Iterable[str]) -> dict[str, list[Row]]:
    """Stored certificates by the key they certify, oldest first."""
    wanted = list(set(spkis))
    found: dict[str, list[Row]] = defaultdict(list)
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        query = select(Row).where(Row.spki_sha256.in_(chunk)).order_by(Row.id)
        for row in session.scalars(query):
            found[row.spki_sha256].append(row)
    return found


def issuer_rows(session: Session) -> list[Row]:
    """Every stored CA certificate: the pool in which chains are looked up."""
    return list_certificates(session, roles=("intermediate", "root"))


def incomplete(session: Session) -> list[Row]:
    return list(session.scalars(select(Row).where(Row.chain_status == "incomplete")))


def chain_of(session: Session, certificate_id: int) -> list[Row]:
    """The issuers of a certificate, nearest first."""
    return chains_of(session, [certificate_id]).get(certificate_id, [])


def chains_of(session: Session, ids: Sequence[int]) -> dict[int, list[Row]]:
    """Chains of many certificates at once, for listings."""
    links = schema.ChainLink
    chains: dict[int, list[Row]] = defaultdict(list)
    for start in range(0, len(ids), CHUNK):
        chunk = list(ids[start : start + CHUNK])
        query = (
            select(links.certificate_id, Row)
            .join(Row, Row.id == links.issuer_id)
            .where(links.certificate_id.in_(chunk))
            .order_by(links.certificate_id, links.position)
        )
        for certificate_id, issuer in session.execute(query):
            chains[certificate_id].append(issuer)
    return chains


def set_chain(session: Session, certificate_id: int, issuer_ids: Sequence[int]) -> None:
    """Replace a stored certificate's chain."""
    links = schema.ChainLink
    session.execute(
        delete(links).where(links.certificate_id == certificate_id),
        execution_options={"synchronize_session": False},
    )
    add_links(session, {certificate_id: issuer_ids})


def insert_many(session: Session, values: Sequence[Mapping[str, Any]]) -> list[int]:
    """Insert certificate rows in one statement; their ids, in the same order."""
    if not values:
        return []
    table = schema.table(Row)
    query = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    return [row_id for (row_id,) in session.execute(query, list(values))]


def add_links(session: Session, chains: Mapping[int, Sequence[int]]) -> None:
    """Write the chains of certificates that have none yet, in one statement."""
    rows = [
        {"certificate_id": cert_id, "position": position, "issuer_id": issuer_id}
        for cert_id, issuer_ids in chains.items()
        for position, issuer_id in enumerate(issuer_ids)
    ]
    if rows:
        session.execute(insert(schema.table(schema.ChainLink)), rows)


def users_of_issuer(session: Session, issuer_id: int) -> list[Row]:
    """Certificates whose chain contains `issuer_id`."""
    links = schema.ChainLink
    query = (
        select(Row)
        .join(links, links.certificate_id == Row.id)
        .where(links.issuer_id == issuer_id)
        .order_by(Row.id)
    )
    return list(session.scalars(query).unique())
