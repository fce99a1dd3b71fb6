"""What the interfaces show: plain values with stable field names.

The JSON forms here are a contract with scripts (README, "JSON fields"):
fields may be added, never renamed or removed.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Any, overload

from certdesk.pki.certificates import CertificateFacts, load_stored, read_facts
from certdesk.pki.chain import ChainStatus
from certdesk.pki.inspect import ChainState, Warning, certificate_warnings, days_left
from certdesk.store import schema

FACTORY_DEFAULT = "factory-default"


@dataclass(frozen=True)
class ChainEntry:
    id: int
    fingerprint_sha256: str
    role: str
    subject: str
    source: str

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "fingerprint_sha256": self.fingerprint_sha256,
            "role": self.role,
            "subject": self.subject,
            "source": self.source,
        }


@dataclass(frozen=True)
class CertificateView:
    id: int
    name: str
    facts: CertificateFacts
    has_key: bool
    is_default: bool
    source: str
    chain: tuple[ChainEntry, ...]
    chain_status: str
    chain_missing: str | None
    chain_notes: tuple[str, ...]
    warnings: tuple[Warning, ...]
    days_left: int

    @property
    def factory_default(self) -> bool:
        return self.source == FACTORY_DEFAULT

    def as_json(self) -> dict[str, Any]:
        f = self.facts
        leaf = ChainEntry(self.id, f.fingerprint_sha256, f.role, f.subject, self.source)
        return {
            "id": self.id,
            "name": self.name,
            "subject": f.subject,
            "issuer": f.issuer,
            "issued_to": f.subject_cn,
            "issued_by": f.issuer_cn,
            "sans": f.sans,
            "not_before": json_time(f.not_before),
            "not_after": json_time(f.not_after),
            "days_left": self.days_left,
            "fingerprint_sha256": f.fingerprint_sha256,
            "fingerprint_sha1": f.fingerprint_sha1,
            "serial": f.serial,
            "key": {
                "algorithm": f.key.algorithm,
                "size": f.key.size,
                "label": str(f.key),
            },
            "signature_algorithm": f.signature_algorithm,
            "has_key": self.has_key,
            "is_default": self.is_default,
            "factory_default": self.factory_default,
            "role": str(f.role),
            "source": self.source,
            "chain": [leaf.as_json(), *(c.as_json() for c in self.chain)],
            "chain_status": self.chain_status,
            "chain_missing": self.chain_missing,
            "chain_notes": list(self.chain_notes),
            "warnings": [w.as_dict() for w in self.warnings],
        }


def certificate_view(
    row: schema.Certificate,
    chain: list[schema.Certificate],
    *,
    default_id: int | None,
    now: dt.datetime,
) -> CertificateView:
    facts = read_facts(load_stored(row.der))
    state = ChainState(
        status=ChainStatus(row.chain_status),
        missing=row.chain_missing,
        problem=row.chain_problem,
        uncheckable=any("cannot be checked" in n for n in row.chain_notes),
    )
    has_key = row.key_id is not None
    warnings = certificate_warnings(
        facts,
        state,
        now=now,
        has_key=has_key,
        factory_default=row.source == FACTORY_DEFAULT,
    )
    entries = tuple(
        ChainEntry(c.id, c.fingerprint_sha256, c.role, c.subject, c.source)
        for c in chain
    )
    return CertificateView(
        id=row.id,
        name=row.name,
        facts=facts,
        has_key=has_key,
        is_default=row.id == default_id,
        source=row.source,
        chain=entries,
        chain_status=row.chain_status,
        chain_missing=row.chain_missing,
        chain_notes=tuple(row.chain_notes),
        warnings=tuple(warnings),
        days_left=days_left(facts, now),
    )


@dataclass(frozen=True)
class RequestView:
    id: int
    name: str
    subject: str
    sans: tuple[str, ...]
    key: str
    status: str
    certificate_id: int | None
    created_at: dt.datetime
    pem: str

    def as_json(self, *, with_pem: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "subject": self.subject,
            "sans": list(self.sans),
            "key": self.key,
            "status": self.status,
            "certificate_id": self.certificate_id,
            "created_at": json_time(self.created_at),
        }
        if with_pem:
            data["pem"] = self.pem
        return data


def request_view(row: schema.Request, key: schema.Key) -> RequestView:
    label = f"{key.algorithm} {key.size}"
    return RequestView(
        id=row.id,
        name=row.name,
        subject=row.subject,
        sans=tuple(row.sans),
        key=label,
        status=row.status,
        certificate_id=row.certificate_id,
        created_at=row.created_at,
        pem=row.pem,
    )


def event_json(row: schema.Event) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": json_time(row.at),
        "actor": row.actor,
        "action": row.action,
        "object_type": row.object_type,
        "object_id": row.object_id,
        "object_name": row.object_name,
        "details": row.details,
    }


@overload
def json_time(moment: dt.datetime) -> str: ...
@overload
def json_time(moment: None) -> None: ...
@overload
def json_time(moment: dt.datetime | None) -> str | None: ...
def json_time(moment: dt.datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, as every JSON form of certdesk writes times."""
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
