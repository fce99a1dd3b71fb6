"""The warnings a person should see under a certificate's name.

Warnings come with a stable `code` for scripts and a sentence for people. They
depend on the time, which is passed in, so a listing and a test agree.
"""

import datetime as dt
from dataclasses import dataclass

from certdesk.pki.certificates import WEAK_HASHES, CertificateFacts, Role
from certdesk.pki.chain import ChainStatus

# Below this many days left, an expiry warning is shown (DESIGN.md item 7:
# renewal starts 30 days before expiry).
EXPIRING_DAYS = 30


@dataclass(frozen=True)
class Warning:
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class ChainState:
    """What chain building concluded about a stored certificate."""

    status: ChainStatus
    missing: str | None = None
    problem: str | None = None
    uncheckable: bool = False


def days_left(facts: CertificateFacts, now: dt.datetime) -> int:
    return (facts.not_after - now).days


def certificate_warnings(
    facts: CertificateFacts,
    chain: ChainState,
    *,
    now: dt.datetime,
    has_key: bool,
    factory_default: bool = False,
) -> list[Warning]:
    """Every warning that applies to a certificate at `now`."""
    found: list[Warning] = []
    if factory_default:
        found.append(
            Warning(
                "factory-default",
                "factory default certificate: create or import your own and make "
                "it the default",
            )
        )
    if chain.status is ChainStatus.SELF_SIGNED and facts.role is not Role.ROOT:
        found.append(
            Warning(
                "self-signed",
                "self-signed: clients will warn that the site is not trusted",
            )
        )

    if now > facts.not_after:
        found.append(Warning("expired", f"expired on {_day(facts.not_after)}"))
    elif now < facts.not_before:
        found.append(
            Warning("not-yet-valid", f"not valid until {_day(facts.not_before)}")
        )
    elif days_left(facts, now) < EXPIRING_DAYS:
        found.append(
            Warning(
                "expiring",
                f"expires in {days_left(facts, now)} days, on {_day(facts.not_after)}",
            )
        )

    if chain.status is ChainStatus.INCOMPLETE:
        found.append(
            Warning(
                "chain-incomplete",
                f"chain incomplete: missing intermediate/root {chain.missing!r}; "
                "import the CA's intermediate and root certificates",
            )
        )
    if chain.problem:
        found.append(
            Warning(
                "chain-invalid",
                "a strict TLS client (Web PKI profile, as cryptography verifies "
                f"it) refuses this chain: {chain.problem}",
            )
        )

    if facts.key.weak:
        found.append(Warning("weak-key", f"weak key: {facts.key}"))
    if facts.signature_hash in WEAK_HASHES and facts.role is not Role.ROOT:
        found.append(
            Warning(
                "weak-signature",
                f"{facts.signature_hash.upper()} signature: clients reject it; "
                "ask the CA for a SHA-256 certificate",
            )
        )
    if facts.signature_hash == "unknown" or chain.uncheckable:
        found.append(
            Warning(
                "signature-uncheckable",
                f"signature algorithm {facts.signature_algorithm} is obsolete; "
                "the signature cannot be checked (this is not a bad signature)",
            )
        )

    if has_key and facts.role is not Role.SERVER:
        found.append(
            Warning(
                "ca-as-server",
                "marked as a CA certificate (basicConstraints CA:TRUE): TLS clients "
                "refuse to accept it as a server certificate",
            )
        )
    if facts.role is Role.SERVER and not has_key:
        found.append(
            Warning(
                "no-key",
                "no private key on this appliance: it cannot be served; import its "
                "key or the PKCS#12 file it came in",
            )
        )
    return found


def _day(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d")
