"""Keeping stored chains true as certificates come and go.

A chain is worked out when a certificate is stored and again whenever an
import brings issuers that a stored, incomplete chain was missing, so the
"chain incomplete" warning disappears once the intermediate or root arrives.
"""

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy.orm import Session

from certdesk.pki.certificates import (
    CertificateFacts,
    load_stored,
    printable,
    read_facts,
)
from certdesk.pki.chain import Candidate, CertificateIndex, Chain, build_chain
from certdesk.services.trust import mozilla_roots
from certdesk.store import certificates as stored
from certdesk.store import schema

TRUST_STORE = "trust-store"


def candidate(row: schema.Certificate) -> Candidate:
    cert = load_stored(row.der)
    return Candidate(cert, read_facts(cert))


def stored_pool(session: Session) -> CertificateIndex:
    return CertificateIndex(candidate(row) for row in stored.issuer_rows(session))


def new_row(
    cert: x509.Certificate,
    facts: CertificateFacts,
    *,
    name: str,
    source: str,
    key_id: str | None,
    now: dt.datetime,
) -> schema.Certificate:
    return schema.Certificate(
        name=printable(name),
        fingerprint_sha256=facts.fingerprint_sha256,
        der=cert.public_bytes(Encoding.DER),
        role=str(facts.role),
        subject=facts.subject,
        issuer=facts.issuer,
        sans=facts.sans,
        not_before=facts.not_before,
        not_after=facts.not_after,
        spki_sha256=facts.spki_sha256,
        key_id=key_id,
        source=source,
        chain_status="incomplete",
        chain_missing=None,
        chain_problem=None,
        chain_notes=[],
        created_at=now,
    )


def save_chain(
    session: Session,
    row: schema.Certificate,
    chain: Chain,
    ids: dict[str, int],
) -> None:
    """Write `chain` onto `row`; `ids` maps every issuer's fingerprint to its id."""
    row.chain_status = str(chain.status)
    row.chain_missing = chain.missing
    row.chain_problem = chain.problem
    row.chain_notes = list(chain.notes)
    stored.set_chain(
        session, row.id, [ids[i.facts.fingerprint_sha256] for i in chain.issuers]
    )


def store_trust_roots(
    session: Session, chains: list[Chain], ids: dict[str, int], now: dt.datetime
) -> None:
    """Store roots that chains borrowed from the Mozilla root store."""
    for chain in chains:
        for issuer in chain.issuers:
            fp = issuer.facts.fingerprint_sha256
            if fp in ids or fp not in chain.from_trust_store:
                continue
            row = new_row(
                issuer.cert,
                issuer.facts,
                name=issuer.facts.display_name,
                source=TRUST_STORE,
                key_id=None,
                now=now,
            )
            row.chain_status = "self-signed"
            session.add(row)
            session.flush()
            ids[fp] = row.id


def refresh_incomplete(session: Session, now: dt.datetime) -> list[schema.Certificate]:
    """Rebuild every incomplete chain against the current pool; return the fixed."""
    rows = stored.incomplete(session)
    if not rows:
        return []
    pool = stored_pool(session)
    roots = mozilla_roots()
    ids = {c.fingerprint_sha256: c.id for c in stored.issuer_rows(session)}
    fixed = []
    for row in rows:
        chain = build_chain(candidate(row), pool, roots)
        store_trust_roots(session, [chain], ids, now)
        before = (row.chain_status, row.chain_missing)
        save_chain(session, row, chain, ids)
        if (row.chain_status, row.chain_missing) != before:
            fixed.append(row)
    return fixed
