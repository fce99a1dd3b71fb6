"""Ordering a certificate over ACME with HTTP-01, and renewing one now.

The steps of an order, in order: check the names; pre-flight them (nothing
is sent to the CA until they answer here); open the account; make a key and
a request; place the order; publish each HTTP-01 answer in the store (any
listener of this data directory serves it) and tell the CA; wait for the
validations; finalize; download the chain; store key, certificate and chain
as one transaction with the managed row. Answers are removed however the
order ends. A failure is an `acme.failed` event holding the CA's words.

A renewal does not delete the certificate it replaces at once: the new one
takes over in the same transaction (so every snapshot serves one of the two),
and the old one stays, still servable, as the managed row's superseded
certificate until `remove_superseded` is called after every server has had
time to pick up the new one. A server still holding an older snapshot can
then build the old certificate's context instead of failing the handshake.
"""

import datetime as dt
import ipaddress
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy.orm import Session

from certdesk.errors import CertdeskError, Conflict, InvalidInput
from certdesk.pki.certificates import read_facts
from certdesk.pki.chain import Candidate, ChainBuilder
from certdesk.pki.issuing import build_request
from certdesk.pki.keys import HeldKey, KeyType, generate_key, spki_sha256
from certdesk.pki.names import SubjectSpec, check_dns_name
from certdesk.pki.renewal import Policy, Validity, renew_at
from certdesk.services import chains as chain_service
from certdesk.services.acme import accounts
from certdesk.services.acme import preflight as probing
from certdesk.services.acme.accounts import Account
from certdesk.services.acme.client import ACCOUNT_GONE, CaError, Eab, Polling
from certdesk.services.acme.directories import Directory
from certdesk.services.context import Context
from certdesk.services.trust import mozilla_roots
from certdesk.services.views import json_time
from certdesk.store import acme as stored_acme
from certdesk.store import appliance, events, schema
from certdesk.store import certificates as stored
from certdesk.store import keys as stored_keys

log = logging.getLogger(__name__)

Progress = Callable[[str], None]

SOURCE = "acme"
DEFAULT_RENEW_BEFORE_DAYS = 30
# CN is at most 64 characters (RFC 5280); a longer first name goes in SANs only.
_MAX_CN = 64
# A renewal holds its lock this much longer than the order may take.
_LOCK_MARGIN = dt.timedelta(minutes=5)
# A rate-limit error without Retry-After is waited out this long.
_RATE_LIMIT_WAIT = dt.timedelta(hours=1)
RATE_LIMITED = "rateLimited"


class RenewalBusy(Conflict):
    """Another worker holds the certificate's renewal lock."""


def _quiet(_: str) -> None:
    """No progress output."""


@dataclass(frozen=True)
class OrderOptions:
    """Everything about an order except its names and key."""

    directory: Directory
    email: str | None = None
    eab: Eab | None = field(default=None, repr=False)
    polling: Polling = field(default_factory=Polling)
    # None skips the pre-flight check.
    preflight: probing.Preflight | None = field(default_factory=probing.Preflight)
    progress: Progress = _quiet


@dataclass(frozen=True)
class Issued:
    """An issued certificate, now stored, served and managed."""

    certificate_id: int
    name: str
    fingerprint_sha256: str
    not_after: dt.datetime
    managed_id: int
    identifiers: tuple[str, ...]
    chain_status: str
    seconds: float
    replaced_certificate_id: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "certificate_id": self.certificate_id,
            "name": self.name,
            "fingerprint_sha256": self.fingerprint_sha256,
            "not_after": json_time(self.not_after),
            "managed_id": self.managed_id,
            "identifiers": list(self.identifiers),
            "chain_status": self.chain_status,
            "seconds": round(self.seconds, 3),
            "replaced_certificate_id": self.replaced_certificate_id,
        }


def check_identifiers(names: Sequence[str]) -> tuple[str, ...]:
    """DNS names (lower-case A-labels) and IP addresses, deduplicated, in order.

    HTTP-01 cannot prove control of a wildcard, so wildcards are refused.
    """
    found: list[str] = []
    for raw in names:
        value = raw.strip()
        if not value:
            continue
        checked = _as_ip(value)
        if checked is None:
            checked = check_dns_name(value)
            if checked.startswith("*."):
                raise InvalidInput(
                    "name",
                    f"{value!r}: a wildcard can only be validated over DNS-01, "
                    "which this appliance does not answer; name each host",
                )
            if "." not in checked:
                raise InvalidInput(
                    "name",
                    f"{value!r} is a single label; CAs issue only for fully "
                    "qualified names such as host.example.com",
                )
        if checked not in found:
            found.append(checked)
    if not found:
        raise InvalidInput("name", "give at least one host name (--name HOST)")
    return tuple(found)


def _as_ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip("[]")))
    except ValueError:
        return None


def request_certificate(
    ctx: Context,
    names: Sequence[str],
    key_type: KeyType,
    options: OrderOptions,
    *,
    renew_before_days: int = DEFAULT_RENEW_BEFORE_DAYS,
    reuse_key: bool = False,
) -> Issued:
    """Order a new certificate for `names`; it is stored, served and managed."""
    started = time.monotonic()
    identifiers = check_identifiers(names)
    if not 1 <= renew_before_days <= 365:
        raise InvalidInput("renew-before-days", "must be 1 to 365")
    with ctx.store.transaction() as session:
        _refuse_duplicate(session, identifiers)

    key = generate_key(key_type)
    chain_pem, account_id = _obtain(ctx, identifiers, key, options)
    now = ctx.now()
    with ctx.store.transaction() as session:
        row = _store_issued(ctx, session, key, chain_pem, identifiers[0], now)
        managed = schema.ManagedCertificate(
            certificate_id=row.id,
            identifiers=list(identifiers),
            key_type=str(key_type),
            reuse_key=reuse_key,
            account_id=account_id,
            renew_before_days=renew_before_days,
            failures=0,
            created_at=now,
            # Fixed for the certificate's life, so its planned time stays put.
            jitter_fraction=random.random(),  # noqa: S311 (spreading load only)
        )
        _succeeded(managed, row, now)
        session.add(managed)
        session.flush()
        _issued_event(ctx, session, row, managed, options.directory, None, now)
        issued = _issued(row, managed, started, None)
    log.info(
        "ACME certificate issued",
        extra={
            "cert": issued.name,
            "fingerprint": issued.fingerprint_sha256,
            "identifiers": ",".join(identifiers),
        },
    )
    return issued


def renew(
    ctx: Context,
    ref: str,
    options: OrderOptions,
    *,
    owner: str | None = None,
    reuse_key: bool = False,
) -> Issued:
    """Renew now: a new order for the same names, replacing the certificate.

    `options.directory` is ignored: a renewal uses the account that issued
    the certificate. Holds the per-certificate lock for the whole order
    (`RenewalBusy` when another worker holds it). The key is reused when the
    certificate was requested so or `reuse_key` says so.
    """
    started = time.monotonic()
    now = ctx.now()
    owner = owner or lock_owner()
    until = now + dt.timedelta(seconds=options.polling.timeout) + _LOCK_MARGIN
    with ctx.store.transaction() as session:
        row = stored.get_certificate(session, ref)
        managed = _managed_of(session, row)
        if managed.state == "revoked":
            raise Conflict(
                f"certificate {row.id} ({row.name}) was revoked; request a new one "
                "with 'certdesk acme request'"
            )
        if not stored_acme.take_lock(session, managed.id, owner, now, until):
            session.refresh(managed)
            raise RenewalBusy(
                f"certificate {row.id} ({row.name}) is being renewed by "
                f"{managed.lock_owner} until {managed.lock_until:%Y-%m-%d %H:%M:%S} "
                "UTC; try again after that"
            )
        account = stored_acme.get_account(session, managed.account_id)
        directory = Directory(account.directory_url, account.ca_bundle_pem)
        identifiers = tuple(managed.identifiers)
        managed.state = "renewing"
        managed.renewing_since = now
        managed.last_attempt_at = now
        managed_id, old_id = managed.id, row.id
        key = (
            stored_keys.load_key(session, ctx.store.master_key, row.key_id)
            if (managed.reuse_key or reuse_key) and row.key_id is not None
            else generate_key(KeyType(managed.key_type))
        )

    try:
        chain_pem, _ = _obtain(
            ctx,
            identifiers,
            key,
            OrderOptions(
                directory,
                email=options.email,
                eab=options.eab,
                polling=options.polling,
                preflight=options.preflight,
                progress=options.progress,
            ),
            managed_id=managed_id,
        )
        finished = ctx.now()
        with ctx.store.transaction() as session:
            managed = _get_managed(session, managed_id)
            old = session.get(schema.Certificate, old_id)
            new = _store_issued(
                ctx, session, key, chain_pem, old.name if old else identifiers[0], now
            )
            managed.certificate_id = new.id
            _succeeded(managed, new, finished)
            session.flush()
            if old is not None:
                _supersede(ctx, session, managed, old, new, finished)
            _issued_event(ctx, session, new, managed, directory, old_id, finished)
            issued = _issued(new, managed, started, old_id)
    finally:
        with ctx.store.transaction() as session:
            stored_acme.release_lock(session, managed_id, owner)
            stored_acme.end_renewing(session, managed_id)
    log.info(
        "ACME certificate renewed",
        extra={"cert": issued.name, "fingerprint": issued.fingerprint_sha256},
    )
    return issued


def lock_owner() -> str:
    """Who holds a renewal lock: host, process, and a nonce per attempt."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _obtain(
    ctx: Context,
    identifiers: tuple[str, ...],
    key: HeldKey,
    options: OrderOptions,
    *,
    managed_id: int | None = None,
) -> tuple[str, int]:
    """Run the order against the CA; the chain PEM and the account id.

    Any failure is recorded (event, and the managed row on a renewal) before
    it propagates.
    """
    say = options.progress
    tokens: list[str] = []
    account: Account | None = None
    try:
        if options.preflight is not None:
            checked = probing.check(ctx, identifiers, options.preflight)
            say(f"preflight: {', '.join(checked)} answer here")
        account = accounts.open_account(
            ctx,
            options.directory,
            polling=options.polling,
            email=options.email,
            eab=options.eab,
        )
        say(
            f"account: {'created' if account.created else 'using'} account at "
            f"{options.directory.label}"
        )
        csr = build_request(key, request_subject(identifiers))
        csr_pem = csr.public_bytes(Encoding.PEM)
        acme = account.session
        deadline = time.monotonic() + options.polling.timeout
        try:
            order = acme.new_order(csr_pem)
        except CaError as exc:
            if exc.code != ACCOUNT_GONE:
                raise
            accounts.register_again(ctx, account, options.eab)
            say("account: the CA had forgotten the account; registered again")
            order = acme.new_order(csr_pem)
        _event(
            ctx,
            "acme.ordered",
            identifiers,
            {"directory": options.directory.url, "order_url": order.uri},
        )
        say(f"order: {order.uri} for {', '.join(identifiers)}")

        pending = acme.http01(order)
        with ctx.store.transaction() as session:
            stored_acme.put_challenges(
                session, [(p.token, p.key_authorization) for p in pending], ctx.now()
            )
        tokens = [p.token for p in pending]
        for item in pending:
            acme.answer(item)
        say(f"challenge: {len(pending)} HTTP-01 answer(s) published")
        acme.wait_validated(pending, deadline)
        say("validated: the CA fetched every answer")
        chain_pem = acme.finalize(order, deadline)
        say("issued: certificate downloaded")
        return chain_pem, account.id
    except CertdeskError as exc:
        _failed(ctx, identifiers, options.directory, exc, managed_id)
        raise
    finally:
        if tokens:
            with ctx.store.transaction() as session:
                stored_acme.remove_challenges(session, tokens)
        if account is not None:
            account.session.close()


def request_subject(identifiers: tuple[str, ...]) -> SubjectSpec:
    """CN is the first DNS name when it fits; IP-only requests carry no CN."""
    dns: list[str] = []
    ips: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    for value in identifiers:
        try:
            ips.append(ipaddress.ip_address(value))
        except ValueError:
            dns.append(value)
    cn = dns[0] if dns and len(dns[0]) <= _MAX_CN else None
    return SubjectSpec(common_name=cn, dns_names=tuple(dns), ip_addresses=tuple(ips))


def _store_issued(
    ctx: Context,
    session: Session,
    key: HeldKey,
    chain_pem: str,
    name: str,
    now: dt.datetime,
) -> schema.Certificate:
    """Key, leaf and issuers as stored rows, the chain proven by signature."""
    try:
        certs = x509.load_pem_x509_certificates(chain_pem.encode())
    except ValueError:
        raise CaError("download", "the CA sent no readable PEM certificate") from None
    leaf, issuers = certs[0], certs[1:]
    leaf_candidate = Candidate(leaf, read_facts(leaf))
    if leaf_candidate.facts.spki_sha256 != spki_sha256(key.public_key()):
        raise CaError("download", "the certificate sent is not for the key requested")

    key_row = stored_keys.add_key(session, ctx.store.master_key, key, now)
    offered = [Candidate(c, read_facts(c)) for c in issuers]
    known = stored.by_fingerprint(
        session, [o.facts.fingerprint_sha256 for o in offered]
    )
    pool = chain_service.stored_pool(session)
    for o in offered:
        pool.add(o)
    builder = ChainBuilder(pool, mozilla_roots())
    chain = builder.build(leaf_candidate)

    ids = {r.fingerprint_sha256: r.id for r in stored.issuer_rows(session)}
    for issuer in chain.issuers:
        fp = issuer.facts.fingerprint_sha256
        if fp in ids or fp in known or fp in chain.from_trust_store:
            continue
        values = chain_service.row_values(
            issuer.cert,
            issuer.facts,
            name=issuer.facts.display_name,
            source=SOURCE,
            key_id=None,
            now=now,
            chain=builder.build(issuer),
        )
        ids[fp] = stored.insert_many(session, [values])[0]
    chain_service.store_trust_roots(session, [chain], ids, now)

    values = chain_service.row_values(
        leaf,
        leaf_candidate.facts,
        name=name,
        source=SOURCE,
        key_id=key_row.id,
        now=now,
        chain=chain,
    )
    row = schema.Certificate(**values)
    session.add(row)
    session.flush()
    stored.add_links(session, {row.id: chain_service.issuer_ids(chain, ids)})
    chain_service.refresh_incomplete(session, now, skip={row.id})
    return row


def _supersede(
    ctx: Context,
    session: Session,
    managed: schema.ManagedCertificate,
    old: schema.Certificate,
    new: schema.Certificate,
    now: dt.datetime,
) -> None:
    """The successor takes over in this transaction; the old one waits.

    The default moves to the new certificate now, and the selection prefers
    it (later expiry), so every snapshot from here on serves it; the old row
    keeps its key until `remove_superseded`. One still pending from an
    earlier renewal is removed now: two renewals are never that close.
    """
    settings = appliance.find(session)
    if settings is not None and settings.default_certificate_id == old.id:
        settings.default_certificate_id = new.id
    if managed.superseded_certificate_id not in (None, old.id):
        earlier = session.get(schema.Certificate, managed.superseded_certificate_id)
        if earlier is not None:
            _remove(ctx, session, earlier, new.id, now)
    managed.superseded_certificate_id = old.id
    managed.superseded_at = now


def remove_superseded(ctx: Context, managed_id: int, now: dt.datetime) -> int | None:
    """Delete the certificate a renewal replaced; its id, None if none was left.

    Called once the successor has been in service longer than the servers
    take to notice a change.
    """
    with ctx.store.transaction() as session:
        managed = session.get(schema.ManagedCertificate, managed_id)
        if managed is None or managed.superseded_certificate_id is None:
            return None
        old = session.get(schema.Certificate, managed.superseded_certificate_id)
        managed.superseded_certificate_id = None
        managed.superseded_at = None
        if old is None:
            return None
        old_id = old.id
        _remove(ctx, session, old, managed.certificate_id, now)
    log.info("superseded certificate removed", extra={"cert_id": old_id})
    return old_id


def _remove(
    ctx: Context,
    session: Session,
    old: schema.Certificate,
    successor_id: int,
    now: dt.datetime,
) -> None:
    """Delete a replaced certificate, its key if unused, and orphaned issuers."""
    settings = appliance.find(session)
    if settings is not None and settings.default_certificate_id == old.id:
        settings.default_certificate_id = successor_id
    chain = stored.chain_of(session, old.id)
    key_id = old.key_id
    old_id, old_name, old_fp = old.id, old.name, old.fingerprint_sha256
    session.delete(old)
    session.flush()
    if key_id is not None:
        stored_keys.delete_key_if_unused(session, key_id)
    for issuer in chain:
        if stored.users_of_issuer(session, issuer.id) or issuer.key_id is not None:
            break
        if issuer.source != SOURCE:
            break
        session.delete(issuer)
        session.flush()
    events.record(
        session,
        at=now,
        actor=ctx.actor,
        action="certificate.deleted",
        object_type="certificate",
        object_id=old_id,
        object_name=old_name,
        details={"fingerprint_sha256": old_fp, "replaced_by": successor_id},
    )


def _succeeded(
    managed: schema.ManagedCertificate, row: schema.Certificate, now: dt.datetime
) -> None:
    """A fresh certificate: valid, and due again by the renewal policy's lead.

    The renewal scheduler recomputes the time (and may move it earlier on the
    CA's renewal information); this is the default it starts from.
    """
    policy = Policy().with_lead(dt.timedelta(days=managed.renew_before_days))
    validity = Validity(row.not_before, row.not_after)
    planned, reason = renew_at(validity, policy, None, managed.jitter_fraction)
    managed.state = "valid"
    managed.next_renewal_at = planned
    managed.next_renewal_reason = reason.text
    managed.last_attempt_at = now
    managed.last_success_at = now
    managed.last_error = None
    managed.failures = 0
    managed.retry_not_before = None
    managed.rate_limited = False
    # The CA's window was about the certificate just replaced.
    managed.renewal_window_start = None
    managed.renewal_window_end = None
    managed.renewal_explanation_url = None
    managed.renewal_info_next_check_at = None


def _failed(
    ctx: Context,
    identifiers: tuple[str, ...],
    directory: Directory,
    exc: CertdeskError,
    managed_id: int | None,
) -> None:
    words = exc.detail if isinstance(exc, CaError) else str(exc)
    now = ctx.now()
    details: dict[str, Any] = {
        "directory": directory.url,
        "identifiers": list(identifiers),
        "step": exc.step if isinstance(exc, CaError) else "preflight",
        "error": words,
    }
    with ctx.store.transaction() as session:
        if managed_id is not None:
            managed = _get_managed(session, managed_id)
            managed.state = "failing"
            managed.failures += 1
            managed.last_attempt_at = now
            managed.last_error = words
            wait, limited = _wait_asked(exc)
            managed.rate_limited = limited
            managed.retry_not_before = now + wait if wait is not None else None
            details["managed_id"] = managed_id
            details["failures"] = managed.failures
        events.record(
            session,
            at=now,
            actor=ctx.actor,
            action="acme.failed",
            object_type="acme-order",
            object_name=identifiers[0],
            details=details,
        )
    log.warning(
        "ACME order failed: %s", words, extra={"identifiers": ",".join(identifiers)}
    )


def _wait_asked(exc: CertdeskError) -> tuple[dt.timedelta | None, bool]:
    """How long the CA asked us to wait, and whether it was a rate limit."""
    if not isinstance(exc, CaError):
        return None, False
    limited = exc.code == RATE_LIMITED
    if exc.retry_after:
        return dt.timedelta(seconds=exc.retry_after), limited
    return (_RATE_LIMIT_WAIT if limited else None), limited


def _event(
    ctx: Context, action: str, identifiers: tuple[str, ...], details: dict[str, Any]
) -> None:
    with ctx.store.transaction() as session:
        events.record(
            session,
            at=ctx.now(),
            actor=ctx.actor,
            action=action,
            object_type="acme-order",
            object_name=identifiers[0],
            details={"identifiers": list(identifiers), **details},
        )


def _issued_event(
    ctx: Context,
    session: Session,
    row: schema.Certificate,
    managed: schema.ManagedCertificate,
    directory: Directory,
    replaced: int | None,
    now: dt.datetime,
) -> None:
    events.record(
        session,
        at=now,
        actor=ctx.actor,
        action="acme.issued",
        object_type="certificate",
        object_id=row.id,
        object_name=row.name,
        details={
            "fingerprint_sha256": row.fingerprint_sha256,
            "identifiers": managed.identifiers,
            "directory": directory.url,
            "not_after": row.not_after.isoformat(),
            "managed_id": managed.id,
            "replaced_certificate_id": replaced,
        },
    )


def _issued(
    row: schema.Certificate,
    managed: schema.ManagedCertificate,
    started: float,
    replaced: int | None,
) -> Issued:
    return Issued(
        certificate_id=row.id,
        name=row.name,
        fingerprint_sha256=row.fingerprint_sha256,
        not_after=row.not_after,
        managed_id=managed.id,
        identifiers=tuple(managed.identifiers),
        chain_status=row.chain_status,
        seconds=time.monotonic() - started,
        replaced_certificate_id=replaced,
    )


def _refuse_duplicate(session: Session, identifiers: tuple[str, ...]) -> None:
    """A second order for names already managed only spends the rate limit."""
    wanted = set(identifiers)
    for managed, cert in stored_acme.list_managed(session):
        if managed.state != "revoked" and set(managed.identifiers) == wanted:
            raise Conflict(
                f"certificate {cert.id} ({cert.name}) is already managed for "
                f"these names; renew it with 'certdesk acme renew {cert.id}'"
            )


def _managed_of(session: Session, row: schema.Certificate) -> schema.ManagedCertificate:
    managed = stored_acme.find_managed(session, row.id)
    if managed is None:
        raise Conflict(
            f"certificate {row.id} ({row.name}) is not managed over ACME; "
            "'certdesk acme status' lists those that are"
        )
    return managed


def _get_managed(session: Session, managed_id: int) -> schema.ManagedCertificate:
    managed = session.get(schema.ManagedCertificate, managed_id)
    if managed is None:
        raise Conflict(
            "the certificate was deleted during its renewal; nothing was replaced"
        )
    return managed
