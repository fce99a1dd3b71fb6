"""SSL contexts for serving: TLS 1.2 and 1.3 only, a modern cipher list."""

import os
import secrets
import ssl
import tempfile
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certdesk.pki.keys import HeldKey

# Mozilla's "intermediate" TLS 1.2 suites (TLS 1.3 suites are OpenSSL's
# defaults and not set here): forward secrecy and AEAD only.
INTERMEDIATE_CIPHERS = ":".join(
    [
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
        "DHE-RSA-AES128-GCM-SHA256",
        "DHE-RSA-AES256-GCM-SHA384",
        "DHE-RSA-CHACHA20-POLY1305",
    ]
)


def base_context() -> ssl.SSLContext:
    """A server context with the protocol settings every served context shares."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(INTERMEDIATE_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    context.set_alpn_protocols(["http/1.1"])
    return context


def serving_context(
    leaf: x509.Certificate, intermediates: Sequence[x509.Certificate], key: HeldKey
) -> ssl.SSLContext:
    """A context that presents `leaf` and its intermediates (never the root).

    The standard `ssl` module loads chains and keys from files only. The key
    is written encrypted under a one-time random passphrase to a file that is
    removed at once, so no usable key material ever rests on disk.
    """
    context = base_context()
    once = secrets.token_urlsafe(32).encode()
    chain_pem = b"".join(
        c.public_bytes(serialization.Encoding.PEM) for c in (leaf, *intermediates)
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(once),
    )
    fd, path = tempfile.mkstemp(prefix="certdesk-", suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(chain_pem + key_pem)
        context.load_cert_chain(path, password=once)
    finally:
        os.unlink(path)
    return context
