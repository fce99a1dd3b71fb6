"""Chains: finding each certificate's issuer by signature, up to a root.

Issuers are looked up by subject name and then proven by signature, so two CA
certificates with the same name (a re-keyed or cross-signed CA) are told apart.
Roots from a trust store (the Mozilla bundle) can complete a chain that the
administrator's files leave short.
"""

import datetime as dt
import enum
import ipaddress
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509 import verification

from certdesk.pki.certificates import (
    CertificateFacts,
    Role,
    Signature,
    check_signature,
    is_self_signed,
)

# Real chains are at most four or five certificates; a bound stops loops made
# by certificates that sign each other.
MAX_DEPTH = 8


class ChainStatus(enum.StrEnum):
    COMPLETE = "complete"
    INCOMPLETE = "incomplete"
    SELF_SIGNED = "self-signed"


@dataclass(frozen=True)
class Candidate:
    """A certificate together with the facts already read from it."""

    cert: x509.Certificate
    facts: CertificateFacts


@dataclass(frozen=True)
class Chain:
    """The issuers of a certificate, nearest first, and what is known of them."""

    issuers: tuple[Candidate, ...]
    status: ChainStatus
    missing: str | None = None
    from_trust_store: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    problem: str | None = None


class CertificateIndex:
    """CA certificates by subject, for issuer lookups in constant time."""

    def __init__(self, members: Iterable[Candidate] = ()) -> None:
        self._by_subject: dict[bytes, list[Candidate]] = defaultdict(list)
        self._fingerprints: set[str] = set()
        for member in members:
            self.add(member)

    def add(self, member: Candidate) -> None:
        if member.facts.fingerprint_sha256 in self._fingerprints:
            return
        self._fingerprints.add(member.facts.fingerprint_sha256)
        self._by_subject[member.cert.subject.public_bytes()].append(member)

    def issuers_named(self, name: x509.Name) -> list[Candidate]:
        return self._by_subject.get(name.public_bytes(), [])

    def __len__(self) -> int:
        return len(self._fingerprints)


class ChainBuilder:
    """Builds chains against one pool, remembering each CA's own issuer.

    Many leaves share one intermediate; its link to the root is proven once
    per builder instead of once per leaf.
    """

    def __init__(self, pool: CertificateIndex, trust_roots: CertificateIndex) -> None:
        self.pool = pool
        self.trust_roots = trust_roots
        self._links: dict[str, tuple[Candidate | None, Signature, bool]] = {}
        self._verdicts: dict[tuple[object, ...], str | None] = {}
        self._constrained: dict[tuple[str, ...], bool] = {}

    def build(self, leaf: Candidate) -> Chain:
        """Follow issuers from `leaf` through the pool, then the trust roots."""
        if leaf.facts.self_issued and is_self_signed(leaf.cert, leaf.facts):
            return Chain((), ChainStatus.SELF_SIGNED)

        issuers: list[Candidate] = []
        from_store: list[str] = []
        notes: list[str] = []
        seen = {leaf.facts.fingerprint_sha256}
        current = leaf
        for _ in range(MAX_DEPTH):
            found, verdict, trusted = self._issuer_of(current)
            if found is not None and found.facts.fingerprint_sha256 in seen:
                found = None  # certificates that sign each other: no way up
            if found is None:
                return Chain(
                    tuple(issuers),
                    ChainStatus.INCOMPLETE,
                    missing=current.facts.issuer,
                    from_trust_store=tuple(from_store),
                    notes=tuple(notes),
                )
            if trusted:
                from_store.append(found.facts.fingerprint_sha256)
                notes.append(
                    f"root {found.facts.display_name!r} completed from the Mozilla "
                    "root store"
                )
            if verdict is Signature.UNCHECKABLE:
                notes.append(
                    f"signature of {current.facts.display_name!r} uses an obsolete "
                    "algorithm and cannot be checked; linked by name and key id"
                )
            issuers.append(found)
            seen.add(found.facts.fingerprint_sha256)
            if found.facts.role is Role.ROOT:
                return Chain(
                    tuple(issuers),
                    ChainStatus.COMPLETE,
                    from_trust_store=tuple(from_store),
                    notes=tuple(notes),
                    problem=self._problem(leaf, issuers),
                )
            current = found

        return Chain(
            tuple(issuers),
            ChainStatus.INCOMPLETE,
            missing=current.facts.issuer,
            notes=(*notes, f"chain longer than {MAX_DEPTH} certificates"),
        )

    def _problem(self, leaf: Candidate, issuers: list[Candidate]) -> str | None:
        """`verify_problem`, run once per leaf profile under the same issuers.

        Leaves from one CA usually share every property the verifier judges
        apart from names, dates and signature; those the builder has already
        settled (the names checked are the leaf's own first SAN, the moment is
        inside every validity period, the signature was proven on the way up),
        so one verdict holds for all of them. Name constraints depend on the
        names themselves, so under a constrained CA every leaf is verified.
        """
        chain_key = tuple(i.facts.fingerprint_sha256 for i in issuers)
        constrained = self._constrained.get(chain_key)
        if constrained is None:
            constrained = any(_name_constrained(i) for i in issuers)
            self._constrained[chain_key] = constrained
        key = None if constrained else _profile(leaf, chain_key)
        if key is None:
            return verify_problem(leaf, issuers)
        if key not in self._verdicts:
            self._verdicts[key] = verify_problem(leaf, issuers)
        return self._verdicts[key]

    def _issuer_of(self, child: Candidate) -> tuple[Candidate | None, Signature, bool]:
        """The issuer of `child`, and whether it came from the trust roots."""
        fp = child.facts.fingerprint_sha256
        cached = self._links.get(fp)
        if cached is not None:
            return cached
        found, verdict = _find_issuer(child, self.pool, {fp})
        trusted = False
        if found is None:
            found, verdict = _find_issuer(child, self.trust_roots, {fp})
            trusted = found is not None
        link = (found, verdict, trusted)
        if child.facts.role is not Role.SERVER:
            self._links[fp] = link
        return link


def build_chain(
    leaf: Candidate, pool: CertificateIndex, trust_roots: CertificateIndex
) -> Chain:
    """Follow issuers from `leaf` through `pool`, then `trust_roots`."""
    return ChainBuilder(pool, trust_roots).build(leaf)


def _find_issuer(
    child: Candidate, index: CertificateIndex, seen: set[str]
) -> tuple[Candidate | None, Signature]:
    """The best issuer of `child` in `index`: proven by signature first."""
    candidates = [
        c
        for c in index.issuers_named(child.cert.issuer)
        if c.facts.fingerprint_sha256 not in seen
    ]
    # A matching key identifier is the strongest hint; newer CAs before older.
    aki = child.facts.authority_key_id
    candidates.sort(
        key=lambda c: (
            aki is not None and c.facts.subject_key_id == aki,
            c.facts.not_after,
        ),
        reverse=True,
    )
    fallback: Candidate | None = None
    for candidate in candidates:
        verdict = check_signature(child.cert, candidate.cert)
        if verdict is Signature.VALID:
            return candidate, verdict
        key_id_fits = aki is None or candidate.facts.subject_key_id in (None, aki)
        if verdict is Signature.UNCHECKABLE and fallback is None and key_id_fits:
            fallback = candidate
    if fallback is not None:
        return fallback, Signature.UNCHECKABLE
    return None, Signature.INVALID


def _name_constrained(issuer: Candidate) -> bool:
    try:
        issuer.cert.extensions.get_extension_for_class(x509.NameConstraints)
    except x509.ExtensionNotFound:
        return False
    return True


_NAME_DEPENDENT = (
    x509.SubjectAlternativeName,
    x509.SubjectKeyIdentifier,
    x509.AuthorityKeyIdentifier,
)


def _profile(leaf: Candidate, chain_key: tuple[str, ...]) -> tuple[object, ...] | None:
    """What a verifier's verdict depends on, names and dates aside; None if unsure.

    Extension values are compared as values (they are hashable), except those
    that differ per certificate by nature: names and key identifiers, whose
    presence and criticality are kept.
    """
    parts: list[object] = [
        chain_key,
        leaf.cert.version,
        leaf.cert.signature_algorithm_oid.dotted_string,
        str(leaf.facts.key),
        bool(leaf.facts.subject),
        bool(leaf.facts.dns_names),
        bool(leaf.facts.dns_names) and leaf.facts.dns_names[0].startswith("*."),
    ]
    for extension in leaf.cert.extensions:
        if isinstance(extension.value, _NAME_DEPENDENT):
            parts.append((extension.oid.dotted_string, extension.critical))
        else:
            parts.append(
                (extension.oid.dotted_string, extension.critical, extension.value)
            )
    try:
        hash(tuple(parts))
    except TypeError:
        return None
    return tuple(parts)


def verify_problem(leaf: Candidate, issuers: list[Candidate]) -> str | None:
    """Why a TLS client would refuse this complete chain, or None.

    Checked at a moment inside every certificate's validity, so the verdict is
    about structure (CA flags, key usage, name constraints) and stays true;
    expiry is reported separately from the dates.
    """
    if leaf.facts.role is not Role.SERVER:
        return None
    if not leaf.facts.dns_names and not leaf.facts.ip_addresses:
        return None
    members = [leaf, *issuers]
    moment = max(m.facts.not_before for m in members)
    if moment > min(m.facts.not_after for m in members):
        return "the validity periods of the chain's certificates do not overlap"

    subject: x509.verification.Subject
    if leaf.facts.dns_names:
        first = leaf.facts.dns_names[0]
        # A wildcard is checked through a name it covers.
        host = "host" + first[1:] if first.startswith("*.") else first
        subject = x509.DNSName(host)
    else:
        subject = x509.IPAddress(ipaddress.ip_address(leaf.facts.ip_addresses[0]))

    root = issuers[-1].cert
    try:
        verifier = (
            verification.PolicyBuilder()
            .store(verification.Store([root]))
            .time(moment + dt.timedelta(seconds=1))
            .build_server_verifier(subject)
        )
        verifier.verify(leaf.cert, [i.cert for i in issuers[:-1]])
    except verification.VerificationError as exc:
        # The verifier's wording starts with how the search ended; the cause
        # that follows is what a person can act on.
        text = str(exc)
        for prefix in ("validation failed: ", "candidates exhausted: "):
            text = text.removeprefix(prefix)
        return text
    except (ValueError, TypeError) as exc:
        return f"cannot be verified: {exc}"
    return None
