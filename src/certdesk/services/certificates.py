"""Certificate use cases: create self-signed, list, show, default, delete, export."""

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy.orm import Session

from certdesk.errors import Conflict, InvalidInput
from certdesk.pki.certificates import load_stored, printable, read_facts
from certdesk.pki.chain import Chain, ChainStatus
from certdesk.pki.encode import ExportFormat, encode
from certdesk.pki.issuing import build_self_signed
from certdesk.pki.keys import KeyType, generate_key
from certdesk.pki.names import SubjectSpec
from certdesk.services import audit
from certdesk.services import chains as chain_service
from certdesk.services.context import Context
from certdesk.services.views import FACTORY_DEFAULT, CertificateView, certificate_view
from certdesk.store import appliance, schema
from certdesk.store import certificates as stored
from certdesk.store import keys as stored_keys

log = logging.getLogger(__name__)

DEFAULT_DAYS = 365


@dataclass(frozen=True)
class Created:
    view: CertificateView
    warnings: tuple[str, ...]


def create_self_signed(
    ctx: Context,
    *,
    name: str,
    key_type: KeyType,
    subject: SubjectSpec,
    days: int = DEFAULT_DAYS,
    source: str = "self-signed",
) -> Created:
    """Make a key and a self-signed certificate for `subject`, and store both."""
    name = check_friendly_name(name)
    now = ctx.now()
    key = generate_key(key_type)
    cert = build_self_signed(key, subject, now=now, days=days)
    facts = read_facts(cert)

    with ctx.store.transaction() as session:
        key_row = stored_keys.add_key(session, ctx.store.master_key, key, now)
        values = chain_service.row_values(
            cert,
            facts,
            name=name,
            source=source,
            key_id=key_row.id,
            now=now,
            chain=Chain((), ChainStatus.SELF_SIGNED),
        )
        row = schema.Certificate(**values)
        session.add(row)
        session.flush()
        audit.record(
            ctx,
            session,
            now,
            "certificate.created",
            row,
            {
                "fingerprint_sha256": row.fingerprint_sha256,
                "kind": source,
                "key": str(key_type),
                "sans": row.sans,
                "days": days,
            },
        )
        view = _view(session, row, now)
    log.info(
        "certificate created",
        extra={"cert": name, "fingerprint": view.facts.fingerprint_sha256},
    )
    return Created(view, subject.warnings)


def list_certificates(
    ctx: Context, roles: tuple[str, ...] = ()
) -> list[CertificateView]:
    now = ctx.now()
    with ctx.store.transaction() as session:
        rows = stored.list_certificates(session, roles)
        chains = stored.chains_of(session, [r.id for r in rows])
        default_id = appliance.default_certificate_id(session)
        return [
            certificate_view(r, chains.get(r.id, []), default_id=default_id, now=now)
            for r in rows
        ]


def show(ctx: Context, ref: str) -> CertificateView:
    with ctx.store.transaction() as session:
        return _view(session, stored.get_certificate(session, ref), ctx.now())


def default_certificate(ctx: Context) -> CertificateView | None:
    """The certificate clients get when no other names them, if one is set."""
    with ctx.store.transaction() as session:
        default_id = appliance.default_certificate_id(session)
        if default_id is None:
            return None
        row = session.get(schema.Certificate, default_id)
        return None if row is None else _view(session, row, ctx.now())


@dataclass(frozen=True)
class DefaultSet:
    view: CertificateView
    warnings: tuple[str, ...]


def set_default(ctx: Context, ref: str) -> DefaultSet:
    """Serve `ref` to clients without SNI or with a name nothing matches.

    Moving the default to a certificate under another root breaks clients
    that trust only the old root (guide, "Re-key or Re-issue"), so the change
    is made but that is said, naming both roots.
    """
    now = ctx.now()
    with ctx.store.transaction() as session:
        row = stored.get_certificate(session, ref)
        if row.key_id is None:
            raise Conflict(
                f"certificate {row.id} ({row.name}) has no private key on this "
                "appliance, so it cannot be served; import its key first"
            )
        settings = appliance.get(session, ctx.store.master_key)
        previous_id = settings.default_certificate_id
        warnings: list[str] = []
        if previous_id is not None and previous_id != row.id:
            previous = session.get(schema.Certificate, previous_id)
            if previous is not None and previous.source != FACTORY_DEFAULT:
                warnings += _root_change(session, previous, row)
        settings.default_certificate_id = row.id
        audit.record(
            ctx,
            session,
            now,
            "certificate.default-set",
            row,
            {"previous_default_id": previous_id},
        )
        return DefaultSet(_view(session, row, now), tuple(warnings))


def _root_change(
    session: Session, old: schema.Certificate, new: schema.Certificate
) -> list[str]:
    old_root = _top_of_chain(session, old)
    new_root = _top_of_chain(session, new)
    if old_root.fingerprint_sha256 == new_root.fingerprint_sha256:
        return []
    return [
        f"the default moves from root {old_root.subject!r} to root "
        f"{new_root.subject!r}: clients that trust only the old root will fail "
        "to connect; give them the new root (or a support package) first"
    ]


def _top_of_chain(session: Session, row: schema.Certificate) -> schema.Certificate:
    chain = stored.chain_of(session, row.id)
    return chain[-1] if chain else row


@dataclass(frozen=True)
class Deleted:
    id: int
    name: str
    removed_issuers: tuple[int, ...]
    removed_key: bool


def delete(ctx: Context, ref: str, *, keep_chain: bool = False) -> Deleted:
    """Delete a certificate, its key if nothing else uses it, and unshared issuers."""
    now = ctx.now()
    with ctx.store.transaction() as session:
        row = stored.get_certificate(session, ref)
        if row.id == appliance.default_certificate_id(session):
            raise Conflict(
                f"certificate {row.id} ({row.name}) is the default certificate; make "
                "another one the default first (certdesk cert default ID)"
            )
        users = stored.users_of_issuer(session, row.id)
        if users:
            listed = ", ".join(f"{u.id} ({u.name})" for u in users[:5])
            raise Conflict(
                f"certificate {row.id} ({row.name}) is in the chain of {listed}; "
                "delete those first"
            )

        chain = stored.chain_of(session, row.id)
        key_id = row.key_id
        session.delete(row)
        session.flush()
        removed_key = key_id is not None and stored_keys.delete_key_if_unused(
            session, key_id
        )
        removed_issuers = [] if keep_chain else _remove_unshared(session, chain)
        audit.record(
            ctx,
            session,
            now,
            "certificate.deleted",
            row,
            {
                "fingerprint_sha256": row.fingerprint_sha256,
                "removed_issuers": removed_issuers,
                "removed_key": removed_key,
            },
        )
    return Deleted(row.id, row.name, tuple(removed_issuers), removed_key)


def _remove_unshared(session: Session, chain: list[schema.Certificate]) -> list[int]:
    """Delete the issuers of a deleted chain that no other chain uses."""
    removed: list[int] = []
    for issuer in chain:
        if stored.users_of_issuer(session, issuer.id) or issuer.key_id is not None:
            # Still in another chain (and so are the issuers above it).
            break
        session.delete(issuer)
        session.flush()
        removed.append(issuer.id)
    return removed


@dataclass(frozen=True)
class Exported:
    data: bytes
    view: CertificateView


def export(
    ctx: Context,
    ref: str,
    *,
    fmt: ExportFormat,
    with_chain: bool,
    with_key: bool,
    passphrase: bytes | None,
) -> Exported:
    """The bytes of an export; one holding a private key is an audit event."""
    now = ctx.now()
    with ctx.store.transaction() as session:
        row = stored.get_certificate(session, ref)
        chain_rows = stored.chain_of(session, row.id) if with_chain else []
        key = None
        if with_key:
            if row.key_id is None:
                raise InvalidInput(
                    "key",
                    f"certificate {row.id} ({row.name}) has no private key on this "
                    "appliance; export it without --key",
                )
            key = stored_keys.load_key(session, ctx.store.master_key, row.key_id)
        leaf = load_stored(row.der)
        chain = [load_stored(c.der) for c in chain_rows]
        data = encode(
            fmt, leaf, chain, key, passphrase, row.name, chain_requested=with_chain
        )
        audit.record(
            ctx,
            session,
            now,
            "certificate.exported",
            row,
            {
                "format": str(fmt),
                "chain": with_chain,
                "private_key": with_key,
                "fingerprint_sha256": row.fingerprint_sha256,
            },
        )
        view = _view(session, row, now)
    if with_key:
        log.info("private key exported", extra={"cert": row.name, "format": str(fmt)})
    return Exported(data, view)


def check_friendly_name(name: str) -> str:
    value = name.strip()
    if not value:
        raise InvalidInput("name", "a friendly name is required")
    if len(value) > 200:
        raise InvalidInput("name", "is longer than 200 characters")
    if printable(value) != value:
        raise InvalidInput(
            "name", "must be at most 200 characters, without control characters"
        )
    if value.isdigit():
        raise InvalidInput("name", "must not be only digits: ids are numbers")
    return value


def _view(
    session: Session, row: schema.Certificate, now: dt.datetime
) -> CertificateView:
    return certificate_view(
        row,
        stored.chain_of(session, row.id),
        default_id=appliance.default_certificate_id(session),
        now=now,
    )
