"""Sending email over SMTP, for alerts and the settings page's test button.

Each way sending can fail is one error class whose message says what to
check. The password is never logged, never put in an error, and never shown
by `repr`; smtplib's own debug output (which would print the AUTH exchange)
stays off.
"""

import ipaddress
import logging
import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from enum import StrEnum

from certdesk.errors import InvalidInput, UpstreamFailed

log = logging.getLogger(__name__)


class Security(StrEnum):
    STARTTLS = "starttls"
    TLS = "tls"
    NONE = "none"


DEFAULT_PORTS = {Security.STARTTLS: 587, Security.TLS: 465, Security.NONE: 25}


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    from_address: str
    port: int = 587
    security: Security = Security.STARTTLS
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    # A PEM bundle to trust instead of the system's (an internal relay's CA).
    ca_file: str | None = None
    # The same as text, for a bundle uploaded in the web interface.
    ca_pem: str | None = field(default=None, repr=False)
    verify: bool = True

    def __post_init__(self) -> None:
        if self.security is Security.NONE and not is_loopback(self.host):
            raise InvalidInput(
                "smtp.security",
                f"'none' sends mail unencrypted, so it is only allowed to a"
                f" loopback relay, not {self.host!r}; use 'starttls' or 'tls'",
            )


class MailError(UpstreamFailed):
    """Mail could not be sent; the message says what to check."""


class MailNotConfigured(MailError):
    """No SMTP server is configured."""


class MailConnectionFailed(MailError):
    """The SMTP server could not be reached or dropped the connection."""


class MailTlsFailed(MailError):
    """The server's certificate was not trusted, or TLS could not start."""


class MailAuthRefused(MailError):
    """The server refused the user name and password."""


class MailRecipientRefused(MailError):
    """The server refused one or more recipients."""


class MailRefused(MailError):
    """The server refused the sender or the message."""


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def tls_context(settings: SmtpSettings) -> ssl.SSLContext:
    """Verification on unless turned off; the CA bundle replaces the system's."""
    context = ssl.create_default_context(
        cafile=settings.ca_file, cadata=settings.ca_pem
    )
    if not settings.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def message(
    settings: SmtpSettings, to: list[str], subject: str, body: str
) -> EmailMessage:
    """A plain-text message from the configured sender."""
    mail = EmailMessage()
    mail["From"] = settings.from_address
    mail["To"] = ", ".join(to)
    mail["Subject"] = subject
    mail["Date"] = formatdate(localtime=False, usegmt=True)
    mail["Message-ID"] = make_msgid(domain=settings.from_address.rpartition("@")[2])
    mail.set_content(body)
    return mail


def send(settings: SmtpSettings | None, mail: EmailMessage) -> None:
    """Deliver `mail` to its To addresses, or raise the MailError that says why not."""
    if settings is None:
        raise not_configured()
    where = f"{settings.host}:{settings.port}"
    recipients = [a.strip() for a in str(mail["To"]).split(",") if a.strip()]

    try:
        with _connect(settings) as smtp:
            if settings.security is Security.STARTTLS:
                smtp.starttls(context=tls_context(settings))
            if settings.username:
                _login(smtp, settings, where)
            refused = smtp.send_message(mail, to_addrs=recipients)
    except ssl.SSLCertVerificationError as exc:
        raise MailTlsFailed(
            f"the SMTP server {where} presented a certificate that is not trusted"
            f" ({exc.verify_message}); check that host names the server as its"
            " certificate does, or set [smtp] ca_file to the CA that issued it"
        ) from None
    except (ssl.SSLError, smtplib.SMTPNotSupportedError) as exc:
        raise MailTlsFailed(
            f"TLS with the SMTP server {where} failed ({_short(exc)}); check that"
            " [smtp] security matches the port (starttls: 587, tls: 465)"
        ) from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise MailRecipientRefused(_refused_text(where, exc.recipients)) from None
    except smtplib.SMTPSenderRefused as exc:
        raise MailRefused(
            f"the SMTP server {where} refused the sender {exc.sender!r}"
            f" ({exc.smtp_code} {_decode(exc.smtp_error)}); check [smtp]"
            " from_address is an address this server may send from"
        ) from None
    except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError) as exc:
        raise MailConnectionFailed(
            f"the SMTP server {where} closed the connection ({_short(exc)});"
            " check [smtp] host, port and security"
        ) from None
    except smtplib.SMTPException as exc:
        raise MailRefused(
            f"the SMTP server {where} refused the message ({_short(exc)})"
        ) from None
    except OSError as exc:
        raise MailConnectionFailed(
            f"cannot connect to the SMTP server {where} ({_short(exc)}); check"
            " [smtp] host and port, and that the server accepts connections from"
            " this appliance"
        ) from None

    if refused:
        # Some recipients were refused and the rest accepted.
        raise MailRecipientRefused(_refused_text(where, refused))
    log.info(
        "mail sent",
        extra={
            "smtp": where,
            "recipients": len(recipients),
            "subject": mail["Subject"],
        },
    )


def send_test(settings: SmtpSettings | None, to: str) -> None:
    """The settings page's test button: one short message to `to`."""
    if settings is None:
        raise not_configured()
    body = (
        "This is a test message from certdesk.\n\n"
        "If you can read it, the appliance can send certificate alerts through"
        f" {settings.host}:{settings.port} ({settings.security.value}).\n"
    )
    send(settings, message(settings, [to], "certdesk: test message", body))


def not_configured() -> MailNotConfigured:
    """The error for sending with no [smtp] host set."""
    return MailNotConfigured(
        "no SMTP server is configured; set [smtp] host and from_address in"
        " certdesk.toml (or CERTDESK_SMTP_HOST and CERTDESK_SMTP_FROM_ADDRESS)"
    )


def _login(smtp: smtplib.SMTP, settings: SmtpSettings, where: str) -> None:
    try:
        smtp.login(settings.username or "", settings.password or "")
    except smtplib.SMTPNotSupportedError:
        raise MailAuthRefused(
            f"the SMTP server {where} offers no login on this connection; remove"
            " [smtp] username, or use security 'starttls' or 'tls' if the server"
            " only offers login over TLS"
        ) from None
    except smtplib.SMTPException as exc:
        # 535 (wrong credentials), 534/538 (mechanism or TLS needed), and such.
        code = getattr(exc, "smtp_code", "")
        raise MailAuthRefused(
            f"the SMTP server {where} refused the login of {settings.username!r}"
            f" ({code}); check [smtp] username and the password in password_file"
        ) from None


def _connect(settings: SmtpSettings) -> smtplib.SMTP:
    if settings.security is Security.TLS:
        return smtplib.SMTP_SSL(
            settings.host,
            settings.port,
            timeout=settings.timeout,
            context=tls_context(settings),
        )
    return smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)


def _refused_text(where: str, refused: dict[str, tuple[int, bytes]]) -> str:
    parts = ", ".join(
        f"{address} ({code} {_decode(reply)})"
        for address, (code, reply) in refused.items()
    )
    return (
        f"the SMTP server {where} refused {parts}; check the administrators'"
        " email addresses, and that the server relays mail for this appliance"
    )


def _decode(reply: bytes | str) -> str:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())


def _short(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    return _decode(str(exc)) or type(exc).__name__
