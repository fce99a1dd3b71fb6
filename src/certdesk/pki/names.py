"""Subject names and subject alternative names, checked the way a CA checks them.

`check_subject` turns what a person typed into a `SubjectSpec` that is safe to
put in a request or certificate, or raises `InvalidInput` naming the field.
Things a CA would accept but a careful administrator should hear about come
back as warnings rather than errors.
"""

import ipaddress
import re
from dataclasses import dataclass, field

import iso3166
from cryptography import x509
from cryptography.x509.oid import NameOID

from certdesk.errors import InvalidInput

# Upper bounds from RFC 5280 appendix A (ub-common-name and friends).
_MAX_LENGTH = {"cn": 64, "org": 64, "ou": 64, "city": 128, "state": 128}

# RFC 1035 section 2.3.4 and RFC 1123 section 2.1: a label is 1 to 63 letters,
# digits and hyphens, not starting or ending with a hyphen; a name is at most
# 253 characters written without the trailing dot.
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_MAX_NAME = 253

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class SubjectSpec:
    """A checked subject and SAN list, ready to be written into X.509."""

    common_name: str | None = None
    country: str | None = None
    state: str | None = None
    city: str | None = None
    org: str | None = None
    ou: str | None = None
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[IPAddress, ...] = ()
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def x509_name(self) -> x509.Name:
        parts = [
            (NameOID.COUNTRY_NAME, self.country),
            (NameOID.STATE_OR_PROVINCE_NAME, self.state),
            (NameOID.LOCALITY_NAME, self.city),
            (NameOID.ORGANIZATION_NAME, self.org),
            (NameOID.ORGANIZATIONAL_UNIT_NAME, self.ou),
            (NameOID.COMMON_NAME, self.common_name),
        ]
        return x509.Name(
            [x509.NameAttribute(oid, value) for oid, value in parts if value]
        )

    def san_extension(self) -> x509.SubjectAlternativeName | None:
        names: list[x509.GeneralName] = [x509.DNSName(n) for n in self.dns_names]
        names += [x509.IPAddress(ip) for ip in self.ip_addresses]
        return x509.SubjectAlternativeName(names) if names else None

    @property
    def sans(self) -> list[str]:
        return [*self.dns_names, *(str(ip) for ip in self.ip_addresses)]


def check_subject(
    *,
    common_name: str | None,
    country: str | None = None,
    state: str | None = None,
    city: str | None = None,
    org: str | None = None,
    ou: str | None = None,
    sans: list[str] | tuple[str, ...] = (),
) -> SubjectSpec:
    """Check every field of a subject and its SANs; raise on the first fault."""
    warnings: list[str] = []
    texts = {
        "cn": _clean(common_name),
        "state": _clean(state),
        "city": _clean(city),
        "org": _clean(org),
        "ou": _clean(ou),
    }
    for name, value in texts.items():
        if value is None:
            continue
        if not value.isprintable():
            raise InvalidInput(name, "must not hold control characters")
        # The limits count characters, but the encoder counts UTF-8 bytes
        # (for CN): accented names reach the limit sooner than they look.
        size = len(value.encode())
        if size > _MAX_LENGTH[name]:
            unit = "characters" if size == len(value) else "bytes in UTF-8"
            raise InvalidInput(
                name, f"is {size} {unit}; at most {_MAX_LENGTH[name]} fit"
            )

    checked_country = check_country(country)
    state_value = texts["state"]
    if state_value is not None and re.fullmatch(r"[A-Za-z]{2}", state_value):
        warnings.append(
            f"state {state_value!r} looks like an abbreviation; some CAs require "
            "the full state or province name"
        )

    dns_names: list[str] = []
    ips: list[IPAddress] = []
    for raw in sans:
        value = raw.strip()
        if not value:
            continue
        ip = _parse_ip(value)
        if ip is not None:
            if ip not in ips:
                ips.append(ip)
            continue
        dns = check_dns_name(value)
        if dns not in dns_names:
            dns_names.append(dns)
    if ips:
        warnings.append(
            "IP address SANs: public CAs rarely issue them and clients that "
            "connect by name will not use them"
        )

    # Guide, Create step 6: a common name that is a DNS name must also be the
    # first SAN, since clients match host names against SANs only (RFC 6125).
    cn = texts["cn"]
    cn_dns = _as_dns_name(cn) if cn else None
    if cn_dns is not None:
        if cn_dns in dns_names:
            dns_names.remove(cn_dns)
        dns_names.insert(0, cn_dns)
    if cn is None and not dns_names and not ips:
        raise InvalidInput("cn", "give a common name or at least one SAN")
    if not dns_names and not ips:
        warnings.append(
            "no subject alternative names: clients will not accept this "
            "certificate for any host name"
        )

    return SubjectSpec(
        common_name=cn,
        country=checked_country,
        state=state_value,
        city=texts["city"],
        org=texts["org"],
        ou=texts["ou"],
        dns_names=tuple(dns_names),
        ip_addresses=tuple(ips),
        warnings=tuple(warnings),
    )


def check_country(country: str | None) -> str | None:
    """An ISO 3166-1 alpha-2 code in upper case, or None when not given."""
    value = _clean(country)
    if value is None:
        return None
    code = value.upper()
    if len(code) != 2 or code not in iso3166.countries_by_alpha2:
        raise InvalidInput(
            "country",
            f"{value!r} is not an ISO 3166 two-letter country code (for example "
            "US, DE, GB)",
        )
    return code


def check_dns_name(value: str) -> str:
    """A SAN DNS name in lower-case A-label form, wildcard allowed leftmost."""
    name = value.strip().rstrip(".").lower()
    if not name:
        raise InvalidInput("san", f"{value!r} is empty")
    try:
        ascii_name = _to_a_labels(name)
    except UnicodeError:
        raise InvalidInput("san", f"{value!r} is not a valid host name") from None
    if len(ascii_name) > _MAX_NAME:
        raise InvalidInput("san", f"{value!r} is longer than {_MAX_NAME} characters")

    labels = ascii_name.split(".")
    if labels[0] == "*":
        # RFC 6125 section 6.4.3 as CAs apply it: the wildcard is the whole
        # leftmost label, and covers names under a registrable domain only.
        if len(labels) < 3:
            raise InvalidInput(
                "san",
                f"{value!r}: a wildcard needs at least two labels after it, "
                "as in *.example.com",
            )
        labels = labels[1:]
    for label in labels:
        if "*" in label:
            raise InvalidInput(
                "san",
                f"{value!r}: '*' is only allowed as the whole leftmost label",
            )
        if not _LABEL.match(label):
            raise InvalidInput(
                "san",
                f"{value!r}: label {label!r} must be 1 to 63 letters, digits or "
                "hyphens, not starting or ending with a hyphen",
            )
    return ascii_name


def _to_a_labels(name: str) -> str:
    """Internationalised labels in their ASCII (A-label) form."""
    if name.isascii():
        return name
    parts = []
    for label in name.split("."):
        parts.append(label if label.isascii() else label.encode("idna").decode())
    return ".".join(parts)


def _as_dns_name(cn: str) -> str | None:
    """`cn` as a DNS name when it reads as a fully qualified one, else None."""
    if "." not in cn or " " in cn:
        return None
    try:
        return check_dns_name(cn)
    except InvalidInput:
        return None


def _parse_ip(value: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        return None


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


_FIELD_OIDS = {
    "cn": NameOID.COMMON_NAME,
    "country": NameOID.COUNTRY_NAME,
    "state": NameOID.STATE_OR_PROVINCE_NAME,
    "city": NameOID.LOCALITY_NAME,
    "org": NameOID.ORGANIZATION_NAME,
    "ou": NameOID.ORGANIZATIONAL_UNIT_NAME,
}


def subject_fields(name: x509.Name) -> dict[str, str | None]:
    """The Create form's fields as they appear in an existing subject."""
    fields: dict[str, str | None] = {}
    for field_name, oid in _FIELD_OIDS.items():
        values = name.get_attributes_for_oid(oid)
        value = values[0].value if values else None
        fields[field_name] = value.decode() if isinstance(value, bytes) else value
    return fields
