"""Import: any mix of certificate, chain and key files, in one transaction.

The steps, in order: decode every file (nothing is written if one fails);
pair keys with certificates; tell identities from issuers; build each chain
by signature; store what is new; link signed certificates to their pending
requests; repair stored chains the new issuers complete; record events.
"""

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from sqlalchemy.orm import Session

from certdesk.errors import RejectedFile
from certdesk.pki.certificates import CertificateFacts, Role
from certdesk.pki.chain import Candidate, Chain, ChainStatus, build_chain
from certdesk.pki.decode import DecodedFile, decode_file
from certdesk.pki.keys import HeldKey, spki_sha256
from certdesk.services import chains as chain_service
from certdesk.services.context import Context
from certdesk.services.trust import mozilla_roots
from certdesk.store import certificates as stored
from certdesk.store import events, schema
from certdesk.store import keys as stored_keys
from certdesk.store import requests as stored_requests

log = logging.getLogger(__name__)

# Upper bound on one file; a certificate bundle is a few kilobytes.
MAX_FILE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class ImportFile:
    name: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class ImportedItem:
    """One outcome: created, already-present, key-attached or ignored."""

    outcome: str
    kind: str
    file: str
    id: int | None = None
    name: str | None = None
    fingerprint_sha256: str | None = None
    role: str | None = None
    detail: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "kind": self.kind,
            "file": self.file,
            "id": self.id,
            "name": self.name,
            "fingerprint_sha256": self.fingerprint_sha256,
            "role": self.role,
            "detail": self.detail,
        }


@dataclass
class ImportResult:
    items: list[ImportedItem] = field(default_factory=list)
    fulfilled_requests: list[int] = field(default_factory=list)
    repaired_chains: list[int] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "items": [i.as_json() for i in self.items],
            "fulfilled_requests": self.fulfilled_requests,
            "repaired_chains": self.repaired_chains,
        }


@dataclass
class _Offered:
    """A certificate from the batch, with where it came from."""

    cert: x509.Certificate
    facts: CertificateFacts
    file: str
    friendly_name: str | None

    @property
    def candidate(self) -> Candidate:
        return Candidate(self.cert, self.facts)


def import_files(
    ctx: Context, files: list[ImportFile], passphrase: bytes | None
) -> ImportResult:
    """Import `files` as one batch: all of it lands, or none of it."""
    for f in files:
        if len(f.data) > MAX_FILE_BYTES:
            raise RejectedFile(
                f.name, f"is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB"
            )
    decoded = [decode_file(f.name, f.data, passphrase) for f in files]
    offered, offered_keys = _collect(decoded)
    now = ctx.now()
    with ctx.store.transaction() as session:
        result = _store_batch(ctx, session, offered, offered_keys, now)
    for item in result.items:
        log.info(
            "import %s",
            item.outcome,
            extra={"cert": item.name, "fingerprint": item.fingerprint_sha256},
        )
    return result


def _collect(
    decoded: list[DecodedFile],
) -> tuple[dict[str, _Offered], dict[str, tuple[HeldKey, str]]]:
    offered: dict[str, _Offered] = {}
    keys: dict[str, tuple[HeldKey, str]] = {}
    for d in decoded:
        for position, (cert, facts) in enumerate(
            zip(d.certificates, d.facts, strict=True)
        ):
            name = d.friendly_names.get(position)
            known = offered.get(facts.fingerprint_sha256)
            if known is None:
                offered[facts.fingerprint_sha256] = _Offered(
                    cert, facts, d.filename, name
                )
            elif name and not known.friendly_name:
                known.friendly_name = name
        for key in d.keys:
            keys.setdefault(spki_sha256(key.public_key()), (key, d.filename))
    return offered, keys


def _store_batch(
    ctx: Context,
    session: Session,
    offered: dict[str, _Offered],
    offered_keys: dict[str, tuple[HeldKey, str]],
    now: dt.datetime,
) -> ImportResult:
    result = ImportResult()
    existing = stored.by_fingerprint(session, offered)

    # Keys: each must belong to a certificate of this batch or of the store.
    batch_spkis = {o.facts.spki_sha256 for o in offered.values()}
    key_ids: dict[str, str] = {}
    for spki, (key, filename) in offered_keys.items():
        known = stored_keys.find_key(session, spki)
        if known is not None:
            key_ids[spki] = known.id
            result.items.append(
                ImportedItem(
                    "already-present", "key", filename, detail="key already held"
                )
            )
            continue
        if spki not in batch_spkis and not stored.with_spki(session, spki):
            raise RejectedFile(
                filename,
                "the private key matches no certificate in this import or on the "
                "appliance; import it together with its certificate",
            )
        key_ids[spki] = stored_keys.add_key(session, ctx.store.master_key, key, now).id
        for row in stored.with_spki(session, spki):
            if row.key_id is None and row.fingerprint_sha256 not in offered:
                row.key_id = key_ids[spki]
                result.items.append(
                    ImportedItem(
                        "key-attached",
                        "certificate",
                        filename,
                        id=row.id,
                        name=row.name,
                        fingerprint_sha256=row.fingerprint_sha256,
                        role=row.role,
                    )
                )
    for o in offered.values():
        spki = o.facts.spki_sha256
        if spki not in key_ids:
            key_row = stored_keys.find_key(session, spki)
            if key_row is not None:
                key_ids[spki] = key_row.id

    # Identities are what the appliance could serve: server certificates, and
    # any certificate whose private key it holds. The rest are issuers.
    identities = [
        o
        for o in offered.values()
        if o.facts.role is Role.SERVER or o.facts.spki_sha256 in key_ids
    ]
    identity_fps = {o.facts.fingerprint_sha256 for o in identities}
    issuers = [
        o for o in offered.values() if o.facts.fingerprint_sha256 not in identity_fps
    ]

    pool = chain_service.stored_pool(session)
    for o in issuers:
        pool.add(o.candidate)
    roots = mozilla_roots()
    new = [o for o in offered.values() if o.facts.fingerprint_sha256 not in existing]
    chains = {
        o.facts.fingerprint_sha256: build_chain(o.candidate, pool, roots) for o in new
    }

    # An issuer is kept when some identity's chain uses it (a bundle may carry
    # unrelated CA certificates), or when the batch is issuers only: the
    # administrator uploading the intermediate and root one by one.
    used = _fingerprints_in(chains[fp] for fp in identity_fps if fp in chains)
    used |= _fingerprints_in(
        build_chain(chain_service.candidate(row), pool, roots)
        for row in stored.incomplete(session)
    )
    # With a chain still incomplete, an issuer that links to nothing yet may be
    # the root above the missing intermediate: keep it for when that arrives.
    keep_all = not identities or any(
        chains[fp].status is ChainStatus.INCOMPLETE
        for fp in identity_fps
        if fp in chains
    )
    kept_issuers = []
    for o in issuers:
        fp = o.facts.fingerprint_sha256
        if fp in existing:
            result.items.append(_item("already-present", o, existing[fp]))
        elif keep_all or fp in used:
            kept_issuers.append(o)
        else:
            result.items.append(
                ImportedItem(
                    "ignored",
                    "certificate",
                    o.file,
                    name=o.facts.display_name,
                    fingerprint_sha256=fp,
                    role=str(o.facts.role),
                    detail="not part of the chain of any certificate",
                )
            )

    ids = {row.fingerprint_sha256: row.id for row in stored.issuer_rows(session)}
    created: list[tuple[_Offered, schema.Certificate]] = []
    for o in kept_issuers:
        row = chain_service.new_row(
            o.cert,
            o.facts,
            name=o.friendly_name or o.facts.display_name,
            source="imported",
            key_id=key_ids.get(o.facts.spki_sha256),
            now=now,
        )
        session.add(row)
        created.append((o, row))
    session.flush()
    ids.update({row.fingerprint_sha256: row.id for _, row in created})
    chain_service.store_trust_roots(session, list(chains.values()), ids, now)

    for o in identities:
        fp = o.facts.fingerprint_sha256
        if fp in existing:
            row = existing[fp]
            key_id = key_ids.get(o.facts.spki_sha256)
            if row.key_id is None and key_id is not None:
                row.key_id = key_id
                result.items.append(_item("key-attached", o, row))
            else:
                result.items.append(_item("already-present", o, row))
            continue
        row = chain_service.new_row(
            o.cert,
            o.facts,
            name=_name_for(session, o, key_ids),
            source="imported",
            key_id=key_ids.get(o.facts.spki_sha256),
            now=now,
        )
        session.add(row)
        created.append((o, row))
    session.flush()

    for o, row in created:
        chain_service.save_chain(session, row, chains[o.facts.fingerprint_sha256], ids)
        result.items.append(_item("created", o, row))
        events.record(
            session,
            at=now,
            actor=ctx.actor,
            action="certificate.imported",
            object_type="certificate",
            object_id=row.id,
            object_name=row.name,
            details={
                "fingerprint_sha256": row.fingerprint_sha256,
                "role": row.role,
                "file": o.file,
                "has_key": row.key_id is not None,
                "chain_status": row.chain_status,
            },
        )
        if row.key_id is not None:
            result.fulfilled_requests += _fulfil_requests(
                ctx, session, row, row.key_id, now
            )

    for row in chain_service.refresh_incomplete(session, now):
        result.repaired_chains.append(row.id)
        events.record(
            session,
            at=now,
            actor=ctx.actor,
            action="certificate.chain-updated",
            object_type="certificate",
            object_id=row.id,
            object_name=row.name,
            details={"chain_status": row.chain_status},
        )
    return result


def _fulfil_requests(
    ctx: Context,
    session: Session,
    row: schema.Certificate,
    key_id: str,
    now: dt.datetime,
) -> list[int]:
    """Mark pending requests for this certificate's key as fulfilled."""
    fulfilled = []
    for request in stored_requests.pending_for_key(session, key_id):
        request.status = "fulfilled"
        request.certificate_id = row.id
        request.fulfilled_at = now
        fulfilled.append(request.id)
        events.record(
            session,
            at=now,
            actor=ctx.actor,
            action="request.fulfilled",
            object_type="request",
            object_id=request.id,
            object_name=request.name,
            details={"certificate_id": row.id},
        )
    return fulfilled


def _name_for(session: Session, o: _Offered, key_ids: dict[str, str]) -> str:
    """A friendly name: the PKCS#12 one, the request's, the renewed one's, or CN."""
    if o.friendly_name:
        return o.friendly_name
    key_id = key_ids.get(o.facts.spki_sha256)
    if key_id is not None:
        for request in stored_requests.pending_for_key(session, key_id):
            return request.name
    for earlier in stored.with_spki(session, o.facts.spki_sha256):
        return earlier.name
    return o.facts.display_name


def _fingerprints_in(chains: Iterable[Chain]) -> set[str]:
    found: set[str] = set()
    for chain in chains:
        found.update(i.facts.fingerprint_sha256 for i in chain.issuers)
    return found


def _item(outcome: str, o: _Offered, row: schema.Certificate) -> ImportedItem:
    return ImportedItem(
        outcome,
        "certificate",
        o.file,
        id=row.id,
        name=row.name,
        fingerprint_sha256=row.fingerprint_sha256,
        role=row.role,
    )
