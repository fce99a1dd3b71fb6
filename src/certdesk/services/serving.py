"""What the appliance serves: the snapshot the TLS front end selects from."""

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from typing import Any

from certdesk.pki.certificates import load_stored
from certdesk.pki.selection import (
    Choice,
    Servable,
    ServedSet,
    normalise,
    passed_over_because,
)
from certdesk.services.context import Context
from certdesk.store import appliance, challenges, events, schema
from certdesk.store import certificates as stored
from certdesk.store import keys as stored_keys
from certdesk.tls.contexts import serving_context
from certdesk.tls.router import ContextLoader


def served_set(ctx: Context) -> ServedSet:
    """Every stored certificate whose key is held, and the default."""
    with ctx.store.transaction() as session:
        rows = stored.with_keys(session)
        default_id = appliance.default_certificate_id(session)
        servable = [
            Servable(
                id=row.id,
                name=row.name,
                dns_names=tuple(s for s in row.sans if not _is_ip(s)),
                not_before=row.not_before,
                not_after=row.not_after,
                chain_complete=row.chain_status != "incomplete",
            )
            for row in rows
        ]
    return ServedSet(servable, default_id)


@dataclass(frozen=True)
class Which:
    server_name: str | None
    lookup_name: str | None
    choice: Choice
    at: dt.datetime

    def as_json(self) -> dict[str, Any]:
        chosen = self.choice.certificate
        return {
            "server_name": self.server_name,
            "lookup_name": self.lookup_name,
            "reason": str(self.choice.reason),
            "certificate": None
            if chosen is None
            else {"id": chosen.id, "name": chosen.name},
            "passed_over": [
                {"id": c.id, "name": c.name, "because": self.because(c)}
                for c in self.choice.passed_over
            ],
        }

    def because(self, other: Servable) -> str:
        chosen = self.choice.certificate
        if chosen is None:
            return ""
        return passed_over_because(chosen, other, self.at)


@dataclass(frozen=True)
class ServedName:
    """One name the HTTPS listener answers, and the certificate it gets."""

    name: str
    certificate_id: int
    certificate_name: str
    reason: str
    days_left: int

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "certificate": {"id": self.certificate_id, "name": self.certificate_name},
            "reason": self.reason,
            "days_left": self.days_left,
        }


def served_names(ctx: Context) -> list[ServedName]:
    """Every name covered by a servable certificate, with the one that wins it."""
    now = ctx.now()
    served = served_set(ctx)
    found = []
    for name in served.names():
        chosen = served.holder_of(name, now).certificate
        assert chosen is not None
        found.append(
            ServedName(
                name,
                chosen.id,
                chosen.name,
                "wildcard" if name.startswith("*.") else "exact",
                (chosen.not_after - now).days,
            )
        )
    return found


def context_loader(ctx: Context) -> ContextLoader:
    """Builds the serving context of a certificate: leaf, intermediates, key."""

    def load(cert_id: int) -> ssl.SSLContext:
        with ctx.store.transaction() as session:
            row = session.get(schema.Certificate, cert_id)
            if row is None or row.key_id is None:
                raise LookupError(f"certificate {cert_id} cannot be served")
            chain = stored.chain_of(session, cert_id)
            key = stored_keys.load_key(session, ctx.store.master_key, row.key_id)
            leaf = load_stored(row.der)
            intermediates = [load_stored(c.der) for c in chain if c.role != "root"]
        return serving_context(leaf, intermediates, key)

    return load


def revision(ctx: Context) -> int:
    """Changes to what is served always record an event; its id orders them."""
    with ctx.store.transaction() as session:
        return events.latest_serving_id(session)


def challenge_answer(ctx: Context, token: str) -> str | None:
    """The key authorization for an HTTP-01 token, or None if unknown."""
    with ctx.store.transaction() as session:
        found = challenges.find_challenge(session, token)
        return found.key_authorization if found else None


def which(ctx: Context, server_name: str | None) -> Which:
    """The certificate a client asking for `server_name` gets, and why."""
    now = ctx.now()
    choice = served_set(ctx).choose(server_name, now)
    lookup = normalise(server_name) if server_name else None
    return Which(server_name, lookup, choice, now)


def _is_ip(san: str) -> bool:
    try:
        ipaddress.ip_address(san)
    except ValueError:
        return False
    return True
