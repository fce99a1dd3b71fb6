"""The Mozilla root store, as bundled by `certifi`, for completing chains."""

import functools
import logging
import warnings

import certifi
from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning

from certdesk.pki.certificates import read_facts
from certdesk.pki.chain import Candidate, CertificateIndex

log = logging.getLogger(__name__)


@functools.cache
def mozilla_roots() -> CertificateIndex:
    """Parsed once per process; a root that fails to parse is skipped."""
    with open(certifi.where(), "rb") as bundle, warnings.catch_warnings():
        # A few long-lived roots carry serial numbers RFC 5280 disallows.
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        certs = x509.load_pem_x509_certificates(bundle.read())
    index = CertificateIndex()
    for cert in certs:
        try:
            index.add(Candidate(cert, read_facts(cert)))
        except ValueError:
            log.warning("skipped unreadable root", extra={"subject": str(cert.subject)})
    return index
