"""A real SMTP server on loopback for the tests: aiosmtpd in a thread.

It keeps every message it accepts with its envelope. It can offer STARTTLS
or implicit TLS with a certificate from a test CA made here (the client
trusts that CA through `ca_file`), and AUTH with one user name and password.
"""

import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.pkitools import loopback_server

HOST = "127.0.0.1"


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: Message


@dataclass
class Inbox:
    """What the server accepted, in order."""

    received: list[Received] = field(default_factory=list)

    async def handle_DATA(
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        content = envelope.original_content or b""
        self.received.append(
            Received(
                str(envelope.mail_from),
                list(envelope.rcpt_tos),
                message_from_bytes(content),
            )
        )
        return "250 Message accepted for delivery"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address.startswith("refused"):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@dataclass(frozen=True)
class TestCa:
    """A CA and a server certificate for 127.0.0.1 and localhost."""

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes

    def write(self, directory: Path) -> tuple[Path, Path, Path]:
        """The CA bundle, the server's certificate and key, as files."""
        ca, cert, key = (directory / n for n in ("ca.pem", "smtp.pem", "smtp.key"))
        ca.write_bytes(self.ca_pem)
        cert.write_bytes(self.cert_pem)
        key.write_bytes(self.key_pem)
        return ca, cert, key


def make_ca(common_name: str = "certdesk SMTP test CA") -> TestCa:
    ca, server = loopback_server(common_name)
    return TestCa(ca.pem, server.pem, server.key_pem)


@dataclass
class Server:
    host: str
    port: int
    inbox: Inbox
    ca_file: Path | None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


class _Authenticator:
    def __init__(self, username: str, password: str) -> None:
        self.username = username.encode()
        self.password = password.encode()

    def __call__(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        good = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == self.username
            and auth_data.password == self.password
        )
        return AuthResult(success=good, handled=False)


@contextmanager
def smtp_server(
    tmp_path: Path,
    *,
    tls: str | None = None,
    ca: TestCa | None = None,
    auth: tuple[str, str] | None = None,
) -> Iterator[Server]:
    """A running server; `tls` is None, "starttls" or "implicit".

    With `auth`, AUTH PLAIN and LOGIN are offered (over TLS only, as real
    servers do) and checked against that user name and password.
    """
    inbox = Inbox()
    kwargs: dict[str, Any] = {}
    ca_file = None
    if tls is not None:
        ca = ca or make_ca()
        ca_file, cert_file, key_file = ca.write(tmp_path)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_file, key_file)
        if tls == "starttls":
            kwargs["tls_context"] = context
            kwargs["require_starttls"] = True
        else:
            kwargs["ssl_context"] = context
    if auth is not None:
        kwargs["authenticator"] = _Authenticator(*auth)
        kwargs["auth_require_tls"] = True
    port = free_port()
    controller = Controller(inbox, hostname=HOST, port=port, **kwargs)
    controller.start()
    try:
        yield Server(HOST, port, inbox, ca_file)
    finally:
        controller.stop()
