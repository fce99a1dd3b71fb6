"""Which ACME directory to use, and whose roots to trust for its HTTPS.

Presets name Let's Encrypt; any other HTTPS URL is an internal or commercial
CA, whose own TLS may need a bundle of roots (an internal CA's, or Pebble's).
"""

from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography import x509

from certdesk.errors import InvalidInput

LETSENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
LETSENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"

PRESETS = {"letsencrypt": LETSENCRYPT, "letsencrypt-staging": LETSENCRYPT_STAGING}

# A bundle of roots is a few kilobytes; this bounds what a mistaken file costs.
MAX_BUNDLE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Directory:
    """A directory URL and, when its TLS is not publicly trusted, the roots."""

    url: str
    ca_bundle_pem: str | None = None

    @property
    def label(self) -> str:
        for name, url in PRESETS.items():
            if url == self.url:
                return name
        return self.url


def choose(given: str | None, ca_bundle: bytes | None = None) -> Directory:
    """A preset name or an https:// URL (default: Let's Encrypt production)."""
    value = (given or "letsencrypt").strip()
    url = PRESETS.get(value.lower(), value)
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        presets = ", ".join(PRESETS)
        raise InvalidInput(
            "directory",
            f"{value!r} is neither a preset ({presets}) nor an https:// URL; ACME "
            "directories are always served over HTTPS",
        )
    return Directory(url, check_bundle(ca_bundle) if ca_bundle is not None else None)


def check_bundle(data: bytes) -> str:
    """PEM certificates the ACME client will trust; refused if there are none."""
    if len(data) > MAX_BUNDLE_BYTES:
        raise InvalidInput("ca-bundle", "is larger than 1 MiB; give only the roots")
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise InvalidInput(
            "ca-bundle",
            "holds no PEM certificate; give the CA's root certificate(s) in PEM",
        ) from None
    return data.decode("ascii", "replace") if certs else ""
