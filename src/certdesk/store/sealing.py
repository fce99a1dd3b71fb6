"""Sealing private keys at rest under the master key.

AES-256-GCM with a fresh 96-bit nonce per seal, and the sealed object's id as
associated data, so a sealed key copied onto another row fails to open instead
of silently serving the wrong key. The master key lives apart from the
database: a file with mode 0600 in the data directory, or the environment
variable `CERTDESK_MASTER_KEY` (base64), which cluster nodes share.
"""

import base64
import binascii
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from certdesk.errors import DataDirError

MASTER_KEY_ENV = "CERTDESK_MASTER_KEY"
_VERSION = b"\x01"
_NONCE = 12


class MasterKey:
    """The key that seals every private key; its bytes never leave this object."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) != 32:
            raise DataDirError("the master key must be 32 bytes (256 bits)")
        self._aead = AESGCM(secret)

    def __repr__(self) -> str:
        return "MasterKey(<sealed>)"

    def seal(self, plaintext: bytes, object_id: str) -> bytes:
        nonce = secrets.token_bytes(_NONCE)
        sealed = self._aead.encrypt(nonce, plaintext, _aad(object_id))
        return _VERSION + nonce + sealed

    def unseal(self, sealed: bytes, object_id: str) -> bytes:
        if sealed[:1] != _VERSION:
            raise DataDirError(f"sealed object {object_id} has an unknown format")
        nonce, body = sealed[1 : 1 + _NONCE], sealed[1 + _NONCE :]
        try:
            return self._aead.decrypt(nonce, body, _aad(object_id))
        except InvalidTag:
            raise DataDirError(
                f"sealed object {object_id} does not open with this master key: "
                "the master key does not belong to this database, or the row was "
                "altered"
            ) from None


def _aad(object_id: str) -> bytes:
    return b"certdesk-sealed:" + object_id.encode()


def load_master_key(path: Path) -> MasterKey:
    """The master key from the environment, else from `path`."""
    from_env = os.environ.get(MASTER_KEY_ENV)
    if from_env:
        return MasterKey(_decode(from_env, MASTER_KEY_ENV))
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise DataDirError(
            f"no master key at {path}: run 'certdesk init', or set {MASTER_KEY_ENV}"
        ) from None
    except OSError as exc:
        raise DataDirError(f"cannot read the master key at {path}: {exc}") from exc
    return MasterKey(_decode(text, str(path)))


def create_master_key(path: Path) -> None:
    """Write a new random master key readable by its owner only."""
    secret = base64.b64encode(secrets.token_bytes(32)) + b"\n"
    # O_EXCL: never overwrite a key that seals existing data.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, secret)
        os.fsync(fd)
    finally:
        os.close(fd)


def _decode(text: str, where: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except binascii.Error:
        raise DataDirError(f"the master key in {where} is not valid base64") from None
