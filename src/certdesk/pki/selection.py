"""Which certificate a TLS client gets for the server name it sends.

The rules (DESIGN.md item 6, RFC 6125 section 6.4.3 for wildcards):

1. a SAN equal to the name (case-insensitive, trailing dot ignored, compared
   in A-label form);
2. else a wildcard SAN whose `*` stands for exactly the leftmost label:
   `*.example.com` covers `a.example.com`, not `example.com` nor
   `a.b.example.com`;
3. else the default certificate, which also answers clients sending no name.

Among several candidates for one name: currently valid over not yet valid
over expired, then a complete chain over an incomplete one, then the latest
expiry, then the newest (highest id). A `ServedSet` indexes candidates by name
once, so a lookup costs the same whether it holds ten certificates or a
hundred thousand.
"""

import datetime as dt
import enum
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass


class Reason(enum.StrEnum):
    EXACT = "exact"
    WILDCARD = "wildcard"
    DEFAULT = "default"
    NONE = "none"


@dataclass(frozen=True)
class Servable:
    """A certificate whose key the appliance holds, as selection sees it."""

    id: int
    name: str
    dns_names: tuple[str, ...]
    not_before: dt.datetime
    not_after: dt.datetime
    chain_complete: bool


@dataclass(frozen=True)
class Choice:
    certificate: Servable | None
    reason: Reason
    # The other candidates that matched the same way, best first.
    passed_over: tuple[Servable, ...] = ()


def normalise(server_name: str) -> str | None:
    """The lookup form of a client's server name, or None if it cannot match."""
    name = server_name.strip().rstrip(".").lower()
    # A host name never holds '*'; a client sending one matches no wildcard.
    if not name or "*" in name:
        return None
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return name


class ServedSet:
    """An immutable snapshot of what can be served, indexed by name."""

    def __init__(self, servable: Iterable[Servable], default_id: int | None) -> None:
        self._exact: dict[str, list[Servable]] = defaultdict(list)
        self._wildcard: dict[str, list[Servable]] = defaultdict(list)
        self.default: Servable | None = None
        self.ids: set[int] = set()
        for cert in servable:
            self.ids.add(cert.id)
            if cert.id == default_id:
                self.default = cert
            for san in cert.dns_names:
                name = san.lower().rstrip(".")
                if name.startswith("*."):
                    self._wildcard[name[2:]].append(cert)
                else:
                    self._exact[name].append(cert)

    def names(self) -> list[str]:
        """Every name some certificate covers: host names, then wildcards."""
        return sorted(self._exact) + sorted(f"*.{p}" for p in self._wildcard)

    def holder_of(self, name: str, now: dt.datetime) -> Choice:
        """Which of the certificates naming exactly `name` (or `*.parent`) wins."""
        if name.startswith("*."):
            return _best(self._wildcard[name[2:]], Reason.WILDCARD, now)
        return _best(self._exact[name], Reason.EXACT, now)

    def choose(self, server_name: str | None, now: dt.datetime) -> Choice:
        """The certificate for `server_name` (None: the client sent no SNI)."""
        name = normalise(server_name) if server_name else None
        if name is not None:
            exact = self._exact.get(name)
            if exact:
                return _best(exact, Reason.EXACT, now)
            _, dot, parent = name.partition(".")
            wildcard = self._wildcard.get(parent) if dot and parent else None
            if wildcard:
                return _best(wildcard, Reason.WILDCARD, now)
        if self.default is not None:
            return Choice(self.default, Reason.DEFAULT)
        return Choice(None, Reason.NONE)


def _best(candidates: list[Servable], reason: Reason, now: dt.datetime) -> Choice:
    ranked = sorted(candidates, key=lambda c: _rank(c, now), reverse=True)
    return Choice(ranked[0], reason, tuple(ranked[1:]))


def _rank(cert: Servable, now: dt.datetime) -> tuple[int, bool, dt.datetime, int]:
    if cert.not_before <= now <= cert.not_after:
        validity = 2
    elif now < cert.not_before:
        validity = 1
    else:
        validity = 0
    return (validity, cert.chain_complete, cert.not_after, cert.id)


def passed_over_because(chosen: Servable, other: Servable, now: dt.datetime) -> str:
    """Why `other` ranked below `chosen` for the same name, in a few words."""
    mine, theirs = _rank(chosen, now), _rank(other, now)
    if theirs[0] < mine[0]:
        return "expired" if now > other.not_after else "not yet valid"
    if theirs[1] < mine[1]:
        return "chain incomplete"
    if theirs[2] < mine[2]:
        return "expires sooner"
    return "older"
