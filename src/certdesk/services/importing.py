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
from certdesk.pki.chain import Candidate, Chain, ChainBuilder, ChainStatus
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


@dataclass(frozen=True)
class _Written:
    """What the batch needs to know of a row it inserted."""

    id: int
    name: str
    fingerprint_sha256: str
    role: str
    key_id: str | None


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
        log.debug(
            "import %s",
            item.outcome,
            extra={"cert": item.name, "fingerprint": item.fingerprint_sha256},
        )
    created = sum(1 for i in result.items if i.outcome == "created")
    log.info("import finished: %d of %d items created", created, len(result.items))
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
    batch = _Batch(ctx, session, offered, now)
    with session.no_autoflush:
        batch.store_keys(offered_keys)
        batch.classify()
        batch.build_chains()
        batch.store_issuers()
        batch.store_identities()
        batch.fulfil_requests()
    session.flush()
    batch.repair_stored_chains()
    events.record_many(session, batch.events)
    return batch.result


class _Batch:
    """One import's state, worked through in the order of `_store_batch`.

    Lookups are made for the whole batch at once: an import of thousands of
    certificates makes a handful of queries, not a few per certificate.
    """

    def __init__(
        self,
        ctx: Context,
        session: Session,
        offered: dict[str, _Offered],
        now: dt.datetime,
    ) -> None:
        self.ctx = ctx
        self.session = session
        self.offered = offered
        self.now = now
        self.result = ImportResult()
        self.events: list[dict[str, Any]] = []
        self.existing = stored.by_fingerprint(session, offered)
        spkis = {o.facts.spki_sha256 for o in offered.values()}
        self.offered_spkis = spkis
        self.stored_by_spki = stored.with_spkis(session, spkis)
        self.key_ids = {
            spki: row.id for spki, row in stored_keys.find_keys(session, spkis).items()
        }
        self.identities: list[_Offered] = []
        self.issuers: list[_Offered] = []
        self.chains: dict[str, Chain] = {}
        self.ids: dict[str, int] = {}
        self.created: list[tuple[_Offered, _Written]] = []
        self._stored_incomplete: list[Chain] = []
        self._pending: dict[str, list[schema.Request]] = {}

    def store_keys(self, offered_keys: dict[str, tuple[HeldKey, str]]) -> None:
        """Seal new keys; each must belong to a certificate here or in the store."""
        known = stored_keys.find_keys(self.session, offered_keys)
        for spki, (key, filename) in offered_keys.items():
            if spki in known:
                self.result.items.append(
                    ImportedItem(
                        "already-present", "key", filename, detail="key already held"
                    )
                )
                continue
            in_batch = spki in self.offered_spkis
            stored_certs = self.stored_by_spki.get(spki) or stored.with_spki(
                self.session, spki
            )
            if not in_batch and not stored_certs:
                raise RejectedFile(
                    filename,
                    "the private key matches no certificate in this import or on "
                    "the appliance; import it together with its certificate",
                )
            key_id = stored_keys.add_key(
                self.session, self.ctx.store.master_key, key, self.now
            ).id
            self.key_ids[spki] = key_id
            for row in stored_certs:
                if row.key_id is None and row.fingerprint_sha256 not in self.offered:
                    row.key_id = key_id
                    self.result.items.append(
                        _stored_item("key-attached", filename, row)
                    )

    def classify(self) -> None:
        """Identities are what the appliance could serve: server certificates,
        and any certificate whose private key it holds. The rest are issuers."""
        for o in self.offered.values():
            if o.facts.role is Role.SERVER or o.facts.spki_sha256 in self.key_ids:
                self.identities.append(o)
            else:
                self.issuers.append(o)

    def build_chains(self) -> None:
        pool = chain_service.stored_pool(self.session)
        for o in self.issuers:
            pool.add(o.candidate)
        builder = ChainBuilder(pool, mozilla_roots())
        for o in self.offered.values():
            if o.facts.fingerprint_sha256 not in self.existing:
                self.chains[o.facts.fingerprint_sha256] = builder.build(o.candidate)
        self._stored_incomplete = [
            builder.build(chain_service.candidate(row))
            for row in stored.incomplete(self.session)
        ]

    def store_issuers(self) -> None:
        """Keep the issuers some chain uses; ignore the rest of a bundle.

        All are kept when the batch is issuers only (the administrator uploading
        the intermediate and the root one by one), or while a chain of the batch
        is incomplete: an issuer that links to nothing yet may be the root above
        the missing intermediate.
        """
        new_identity_chains = [
            self.chains[o.facts.fingerprint_sha256]
            for o in self.identities
            if o.facts.fingerprint_sha256 in self.chains
        ]
        used = _fingerprints_in([*new_identity_chains, *self._stored_incomplete])
        keep_all = not self.identities or any(
            c.status is ChainStatus.INCOMPLETE for c in new_identity_chains
        )
        kept = []
        for o in self.issuers:
            fp = o.facts.fingerprint_sha256
            if fp in self.existing:
                self.result.items.append(_item("already-present", o, self.existing[fp]))
            elif keep_all or fp in used:
                kept.append(o)
            else:
                self.result.items.append(
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

        self.ids = {
            r.fingerprint_sha256: r.id for r in stored.issuer_rows(self.session)
        }
        written = self._write(
            kept, [o.friendly_name or o.facts.display_name for o in kept]
        )
        self.ids.update((w.fingerprint_sha256, w.id) for w in written)
        chain_service.store_trust_roots(
            self.session, list(self.chains.values()), self.ids, self.now
        )

    def store_identities(self) -> None:
        pending = stored_requests.pending_for_keys(self.session, self.key_ids.values())
        fresh = []
        names = []
        for o in self.identities:
            fp = o.facts.fingerprint_sha256
            key_id = self.key_ids.get(o.facts.spki_sha256)
            if fp in self.existing:
                row = self.existing[fp]
                if row.key_id is None and key_id is not None:
                    row.key_id = key_id
                    self.result.items.append(_item("key-attached", o, row))
                else:
                    self.result.items.append(_item("already-present", o, row))
                continue
            fresh.append(o)
            names.append(self._name_for(o, pending.get(key_id, []) if key_id else []))
        self._write(fresh, names)

        links: dict[int, list[int]] = {}
        for o, written in self.created:
            chain = self.chains[o.facts.fingerprint_sha256]
            links[written.id] = chain_service.issuer_ids(chain, self.ids)
            self.result.items.append(_item("created", o, written))
            self._event(
                "certificate.imported",
                "certificate",
                written.id,
                written.name,
                {
                    "fingerprint_sha256": written.fingerprint_sha256,
                    "role": written.role,
                    "file": o.file,
                    "has_key": written.key_id is not None,
                    "chain_status": str(chain.status),
                },
            )
        stored.add_links(self.session, links)
        self._pending = pending

    def _write(self, offered: list[_Offered], names: list[str]) -> list[_Written]:
        """Insert new certificates, chain verdicts included, in one statement."""
        values = [
            chain_service.row_values(
                o.cert,
                o.facts,
                name=name,
                source="imported",
                key_id=self.key_ids.get(o.facts.spki_sha256),
                now=self.now,
                chain=self.chains[o.facts.fingerprint_sha256],
            )
            for o, name in zip(offered, names, strict=True)
        ]
        ids = stored.insert_many(self.session, values)
        written = [
            _Written(row_id, v["name"], v["fingerprint_sha256"], v["role"], v["key_id"])
            for row_id, v in zip(ids, values, strict=True)
        ]
        self.created += zip(offered, written, strict=True)
        return written

    def fulfil_requests(self) -> None:
        """A signed certificate fulfils the pending requests for its key."""
        for _, row in self.created:
            if row.key_id is None:
                continue
            for request in self._pending.get(row.key_id, []):
                if request.status != "pending":
                    continue
                request.status = "fulfilled"
                request.certificate_id = row.id
                request.fulfilled_at = self.now
                self.result.fulfilled_requests.append(request.id)
                self._event(
                    "request.fulfilled",
                    "request",
                    request.id,
                    request.name,
                    {"certificate_id": row.id},
                )

    def repair_stored_chains(self) -> None:
        created = {row.id for _, row in self.created}
        for row in chain_service.refresh_incomplete(
            self.session, self.now, skip=created
        ):
            self.result.repaired_chains.append(row.id)
            self._event(
                "certificate.chain-updated",
                "certificate",
                row.id,
                row.name,
                {"chain_status": row.chain_status},
            )

    def _name_for(self, o: _Offered, requests: list[schema.Request]) -> str:
        """The PKCS#12 friendly name, the request's, the renewed one's, or CN."""
        if o.friendly_name:
            return o.friendly_name
        if requests:
            return requests[0].name
        earlier = self.stored_by_spki.get(o.facts.spki_sha256)
        if earlier:
            return earlier[0].name
        return o.facts.display_name

    def _event(
        self,
        action: str,
        object_type: str,
        object_id: int,
        object_name: str,
        details: dict[str, Any],
    ) -> None:
        self.events.append(
            {
                "at": self.now,
                "actor": self.ctx.actor,
                "action": action,
                "object_type": object_type,
                "object_id": str(object_id),
                "object_name": object_name,
                "details": details,
            }
        )


def _fingerprints_in(chains: Iterable[Chain]) -> set[str]:
    found: set[str] = set()
    for chain in chains:
        found.update(i.facts.fingerprint_sha256 for i in chain.issuers)
    return found


def _stored_item(
    outcome: str, filename: str, row: schema.Certificate | _Written
) -> ImportedItem:
    return ImportedItem(
        outcome,
        "certificate",
        filename,
        id=row.id,
        name=row.name,
        fingerprint_sha256=row.fingerprint_sha256,
        role=row.role,
    )


def _item(
    outcome: str, o: _Offered, row: schema.Certificate | _Written
) -> ImportedItem:
    return _stored_item(outcome, o.file, row)
