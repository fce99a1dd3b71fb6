"""Before an order: will the CA find this appliance through each name?

Each name is resolved here and its challenge URL fetched with a probe answer
written to the store, exactly as the CA will fetch it. A failure is told in
plain words before the order spends the CA's rate limit.
"""

import http.client
import ipaddress
import logging
import secrets
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from certdesk.errors import Conflict
from certdesk.services.acme.responder import PREFIX
from certdesk.services.context import Context
from certdesk.store import acme as stored

log = logging.getLogger(__name__)

Resolver = Callable[[str], list[str]]

PROBE_TIMEOUT = 5.0


class PreflightRefused(Conflict):
    """A name will not validate; the order was not placed."""


def system_resolver(name: str) -> list[str]:
    """Addresses for `name` from this machine's resolver, in its order."""
    found: list[str] = []
    for *_, sockaddr in socket.getaddrinfo(name, None, type=socket.SOCK_STREAM):
        address = str(sockaddr[0])
        if address not in found:
            found.append(address)
    return found


def fixed_resolver(
    table: Mapping[str, str], fallback: Resolver = system_resolver
) -> Resolver:
    """Names in `table` resolve to the address given (like curl's --resolve)."""
    lowered = {k.lower().rstrip("."): v for k, v in table.items()}

    def resolve(name: str) -> list[str]:
        if name in lowered:
            return [lowered[name]]
        return fallback(name)

    return resolve


@dataclass(frozen=True)
class Preflight:
    """Where the CA connects (port 80 for public CAs) and how names resolve."""

    port: int = 80
    resolver: Resolver = system_resolver
    timeout: float = PROBE_TIMEOUT


def check(ctx: Context, identifiers: Sequence[str], settings: Preflight) -> list[str]:
    """Probe every identifier; what was checked, or `PreflightRefused`."""
    token = secrets.token_urlsafe(32)
    value = f"certdesk-preflight.{secrets.token_urlsafe(24)}"
    with ctx.store.transaction() as session:
        stored.put_challenges(session, [(token, value)], ctx.now())
    checked = []
    try:
        for name in identifiers:
            for address in _addresses(name, settings.resolver):
                _probe(name, address, token, value, settings)
                checked.append(f"{name} ({address})")
    finally:
        with ctx.store.transaction() as session:
            stored.remove_challenges(session, [token])
    return checked


def _addresses(name: str, resolver: Resolver) -> list[str]:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        return [name]
    try:
        found = resolver(name)
    except (OSError, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        found, problem = [], reason
    else:
        problem = "no address"
    if not found:
        raise PreflightRefused(
            f"pre-flight: {name} does not resolve on this appliance ({problem}); "
            "the CA will not find it either. Point its DNS at this appliance, or "
            "pass --skip-preflight if only the CA's resolver knows the name"
        )
    return found


def _probe(
    name: str, address: str, token: str, value: str, settings: Preflight
) -> None:
    url = f"http://{name}:{settings.port}{PREFIX}{token}"
    host_header = name if settings.port == 80 else f"{name}:{settings.port}"
    connection = http.client.HTTPConnection(
        address, settings.port, timeout=settings.timeout
    )
    try:
        connection.request("GET", PREFIX + token, headers={"Host": host_header})
        response = connection.getresponse()
        body = response.read(4096).decode("utf-8", "replace").strip()
    except (OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise PreflightRefused(
            f"pre-flight: nothing answered {url} at {address} ({reason}); the CA "
            f"must reach this appliance on port {settings.port} through {name}: "
            "check the firewall, port forwarding, and that 'certdesk serve' or "
            "'acme request' listens there"
        ) from None
    finally:
        connection.close()
    if response.status != 200 or body != value:
        raise PreflightRefused(
            f"pre-flight: {url} at {address} answered {response.status} without "
            "this appliance's probe: another server holds that address for the "
            "name, or 'certdesk serve' runs there for another data directory"
        )
    log.debug("pre-flight ok", extra={"identifiers": name})
