"""Keeping stored chains true as certificates come and go.

A chain is worked out when a certificate is stored and again whenever an
import brings issuers that a stored, incomplete chain was missing, so the
"chain incomplete" warning disappears once the intermediate or root arrives.
"""

import datetime as dt
from collections.abc import Collection
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy.orm import Session

from certdesk.pki.certificates import (
    CertificateFacts,
    load_stored,
    printable,
    read_facts,
)
from certdesk.pki.chain import (
    Candidate,
    CertificateIndex,
    Chain,
    ChainBuilder,
    ChainStatus,
)
from certdesk.services.trust import mozilla_roots
from certdesk.store import certificates as stored
from certdesk.store import schema

TRUST_STORE = "trust-store"


def candidate(row: schema.Certificate) -> Candidate:
    cert = load_stored(row.der)
    return Candidate(cert, read_facts(cert))


def stored_pool(session: Session) -> CertificateIndex:
    return CertificateIndex(candidate(row) for row in stored.issuer_rows(session))


def row_values(
    cert: x509.Certificate,
    facts: CertificateFacts,
    *,
    name: str,
    source: str,
    key_id: str | None,
    now: dt.datetime,
    chain: Chain | None = None,
) -> dict[str, Any]:
    """The column values of a certificate row, with its chain verdict if known."""
    values: dict[str, Any] = {
        "name": printable(name),
        "fingerprint_sha256": facts.fingerprint_sha256,
        "der": cert.public_bytes(Encoding.DER),
        "role": str(facts.role),
        "subject": facts.subject,
        "issuer": facts.issuer,
        "sans": facts.sans,
        "not_before": facts.not_before,
        "not_after": facts.not_after,
        "spki_sha256": facts.spki_sha256,
        "key_id": key_id,
        "source": source,
        "created_at": now,
    }
    values.update(chain_values(chain) if chain else chain_values(_UNKNOWN))
    return values


_UNKNOWN = Chain((), ChainStatus.INCOMPLETE)


def chain_values(chain: Chain) -> dict[str, Any]:
    return {
        "chain_status": str(chain.status),
        "chain_missing": chain.missing,
        "chain_problem": chain.problem,
        "chain_notes": list(chain.notes),
    }


def issuer_ids(chain: Chain, ids: dict[str, int]) -> list[int]:
    """Stored ids of `chain`'s issuers, nearest first; `ids` maps fingerprints."""
    return [ids[i.facts.fingerprint_sha256] for i in chain.issuers]


def save_chain(
    session: Session,
    row: schema.Certificate,
    chain: Chain,
    ids: dict[str, int],
) -> None:
    """Replace the stored chain of `row` with `chain`."""
    for column, value in chain_values(chain).items():
        setattr(row, column, value)
    stored.set_chain(session, row.id, issuer_ids(chain, ids))


def store_trust_roots(
    session: Session, chains: list[Chain], ids: dict[str, int], now: dt.datetime
) -> None:
    """Store roots that chains borrowed from the Mozilla root store."""
    for chain in chains:
        for issuer in chain.issuers:
            fp = issuer.facts.fingerprint_sha256
            if fp in ids or fp not in chain.from_trust_store:
                continue
            values = row_values(
                issuer.cert,
                issuer.facts,
                name=issuer.facts.display_name,
                source=TRUST_STORE,
                key_id=None,
                now=now,
                chain=Chain((), ChainStatus.SELF_SIGNED),
            )
            row = schema.Certificate(**values)
            session.add(row)
            session.flush()
            ids[fp] = row.id


def refresh_incomplete(
    session: Session, now: dt.datetime, *, skip: Collection[int] = ()
) -> list[schema.Certificate]:
    """Rebuild incomplete chains against the current pool; return those that changed.

    `skip` names rows whose chains were just built (by the import in progress).
    """
    rows = [row for row in stored.incomplete(session) if row.id not in skip]
    if not rows:
        return []
    builder = ChainBuilder(stored_pool(session), mozilla_roots())
    ids = {c.fingerprint_sha256: c.id for c in stored.issuer_rows(session)}
    fixed = []
    for row in rows:
        chain = builder.build(candidate(row))
        store_trust_roots(session, [chain], ids, now)
        before = (row.chain_status, row.chain_missing)
        save_chain(session, row, chain, ids)
        if (row.chain_status, row.chain_missing) != before:
            fixed.append(row)
    return fixed
