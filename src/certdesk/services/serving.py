"""What the appliance serves: the snapshot the TLS front end selects from."""

import datetime as dt
import ipaddress
from dataclasses import dataclass
from typing import Any

from certdesk.pki.selection import (
    Choice,
    Servable,
    ServedSet,
    normalise,
    passed_over_because,
)
from certdesk.services.context import Context
from certdesk.store import appliance
from certdesk.store import certificates as stored


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
