"""Certificate signing request use cases: create, list, show, delete."""

import logging
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy.orm import Session

from certdesk.pki.certificates import load_stored
from certdesk.pki.issuing import build_request
from certdesk.pki.keys import KeyType, generate_key
from certdesk.pki.names import SubjectSpec, subject_fields
from certdesk.services import audit
from certdesk.services.certificates import check_friendly_name
from certdesk.services.context import Context
from certdesk.services.views import RequestView, request_view
from certdesk.store import certificates as stored_certificates
from certdesk.store import keys as stored_keys
from certdesk.store import requests as stored
from certdesk.store import schema

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CreatedRequest:
    view: RequestView
    warnings: tuple[str, ...]


def create_request(
    ctx: Context, *, name: str, key_type: KeyType, subject: SubjectSpec
) -> CreatedRequest:
    """A new key, kept here, and the request that a CA signs for it."""
    name = check_friendly_name(name)
    now = ctx.now()
    key = generate_key(key_type)
    csr = build_request(key, subject)
    pem = csr.public_bytes(Encoding.PEM).decode()

    with ctx.store.transaction() as session:
        key_row = stored_keys.add_key(session, ctx.store.master_key, key, now)
        row = schema.Request(
            name=name,
            key_id=key_row.id,
            subject=subject.x509_name().rfc4514_string(),
            sans=subject.sans,
            pem=pem,
            status="pending",
            created_at=now,
        )
        session.add(row)
        session.flush()
        audit.record(
            ctx,
            session,
            now,
            "request.created",
            row,
            {"key": str(key_type), "sans": row.sans, "subject": row.subject},
        )
        view = _view(session, row)
    log.info("request created", extra={"request": name})
    return CreatedRequest(view, subject.warnings)


def fields_like(ctx: Context, certificate_ref: str) -> dict[str, Any]:
    """The subject and SANs of a stored certificate, to re-key or re-issue it."""
    with ctx.store.transaction() as session:
        row = stored_certificates.get_certificate(session, certificate_ref)
        cert = load_stored(row.der)
        fields: dict[str, Any] = dict(subject_fields(cert.subject))
        fields["sans"] = list(row.sans)
        fields["name"] = row.name
        return fields


def list_requests(ctx: Context) -> list[RequestView]:
    with ctx.store.transaction() as session:
        return [_view(session, row) for row in stored.list_requests(session)]


def show(ctx: Context, ref: str) -> RequestView:
    with ctx.store.transaction() as session:
        return _view(session, stored.get_request(session, ref))


def delete(ctx: Context, ref: str) -> RequestView:
    """Delete a request; a pending request's key goes with it."""
    now = ctx.now()
    with ctx.store.transaction() as session:
        row = stored.get_request(session, ref)
        view = _view(session, row)
        key_id = row.key_id
        session.delete(row)
        session.flush()
        removed_key = stored_keys.delete_key_if_unused(session, key_id)
        audit.record(
            ctx,
            session,
            now,
            "request.deleted",
            row,
            {"status": view.status, "removed_key": removed_key},
        )
    return view


def _view(session: Session, row: schema.Request) -> RequestView:
    key = session.get(schema.Key, row.key_id)
    if key is None:
        raise LookupError(f"request {row.id} refers to a missing key")
    return request_view(row, key)
