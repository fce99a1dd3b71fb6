"""The mail relay as administrators set it in the web interface.

A relay saved here wins over `[smtp]` in certdesk.toml, so an appliance can be
set up from the browser alone; removing it falls back to the file. The
password is write-only: views only say whether one is stored, and no event
or error ever holds it.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from certdesk.errors import InvalidInput
from certdesk.services import mail
from certdesk.services.context import Context
from certdesk.services.mail import DEFAULT_PORTS, Security, SmtpSettings
from certdesk.services.views import json_time
from certdesk.store import events
from certdesk.store import mail_settings as stored
from certdesk.store.mail_settings import Stored

OBJECT_TYPE = "mail-settings"
CHANGED = "mail.settings_changed"
MAX_BUNDLE_BYTES = 1024 * 1024
_CONTROL = {chr(c) for c in range(32)} | {"\x7f"}


@dataclass(frozen=True)
class MailSettingsView:
    """What a page or the API shows; `source` says where the relay comes from."""

    source: str  # "web", "file", or "none"
    host: str | None
    port: int | None
    security: str | None
    username: str | None
    password_set: bool
    from_address: str | None
    ca_bundle_subjects: tuple[str, ...]
    updated_at: dt.datetime | None
    updated_by: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "host": self.host,
            "port": self.port,
            "security": self.security,
            "username": self.username,
            "password_set": self.password_set,
            "from_address": self.from_address,
            "ca_bundle_subjects": list(self.ca_bundle_subjects),
            "updated_at": json_time(self.updated_at),
            "updated_by": self.updated_by,
        }


def effective(ctx: Context, configured: SmtpSettings | None) -> SmtpSettings | None:
    """The relay alerts go through: the web-set one, else the file's."""
    with ctx.store.transaction() as session:
        found = stored.find(session, ctx.store.master_key)
    if found is None:
        return configured
    return _settings(found)


def view(ctx: Context, configured: SmtpSettings | None) -> MailSettingsView:
    """The relay in use, without its password."""
    with ctx.store.transaction() as session:
        found = stored.find(session, ctx.store.master_key)
    if found is not None:
        return MailSettingsView(
            source="web",
            host=found.host,
            port=found.port,
            security=found.security,
            username=found.username,
            password_set=found.password is not None,
            from_address=found.from_address,
            ca_bundle_subjects=_subjects(found.ca_bundle_pem),
            updated_at=found.updated_at,
            updated_by=found.updated_by,
        )
    if configured is not None:
        return MailSettingsView(
            source="file",
            host=configured.host,
            port=configured.port,
            security=configured.security.value,
            username=configured.username,
            password_set=configured.password is not None,
            from_address=configured.from_address,
            ca_bundle_subjects=(configured.ca_file,) if configured.ca_file else (),
            updated_at=None,
            updated_by=None,
        )
    return MailSettingsView("none", None, None, None, None, False, None, (), None, None)


def save(
    ctx: Context,
    *,
    host: str,
    port: int | None,
    security: str,
    username: str | None,
    password: str | None,
    from_address: str,
    ca_bundle: bytes | None = None,
    remove_ca_bundle: bool = False,
) -> MailSettingsView:
    """Check and store the relay; an empty password keeps the stored one.

    A relay without a user name logs in with nothing, so its password is
    dropped. Checked as `mail.SmtpSettings` checks the file's settings, so
    plain SMTP is refused to anything but a loopback relay.
    """
    chosen = _security(security)
    host = _text("host", host, 255, required=True)
    number = DEFAULT_PORTS[chosen] if port is None else port
    if not 1 <= number <= 65535:
        raise InvalidInput("port", f"{number} is outside 1-65535")
    user = _text("username", username or "", 255) or None
    sender = _address("from_address", from_address)
    given = password or None
    if given is not None and (len(given) > 1024 or set(given) & {"\r", "\n", "\0"}):
        raise InvalidInput("password", "must be one line of at most 1024 characters")
    now = ctx.now()

    with ctx.store.transaction() as session:
        current = stored.find(session, ctx.store.master_key)
        kept = current.password if current is not None else None
        secret = (given or kept) if user else None
        if user and secret is None:
            raise InvalidInput("password", f"give the password for {user!r}")
        bundle = current.ca_bundle_pem if current is not None else None
        if remove_ca_bundle:
            bundle = None
        if ca_bundle:
            bundle = _bundle(ca_bundle)
        values = Stored(
            host=host,
            port=number,
            security=chosen.value,
            username=user,
            password=secret,
            from_address=sender,
            ca_bundle_pem=bundle,
            updated_at=now,
            updated_by=ctx.actor,
        )
        _settings(values)
        stored.put(session, ctx.store.master_key, values)
        events.record(
            session,
            at=now,
            actor=ctx.actor,
            action=CHANGED,
            object_type=OBJECT_TYPE,
            object_name=host,
            details={
                "host": host,
                "port": number,
                "security": chosen.value,
                "username": user,
                "from_address": sender,
                "password": _password_change(user, given),
                "ca_bundle": bundle is not None,
            },
        )
    return view(ctx, None)


def clear(ctx: Context, configured: SmtpSettings | None) -> MailSettingsView:
    """Forget the web-set relay; the file's settings (if any) apply again."""
    with ctx.store.transaction() as session:
        removed = stored.remove(session)
        if removed:
            events.record(
                session,
                at=ctx.now(),
                actor=ctx.actor,
                action=CHANGED,
                object_type=OBJECT_TYPE,
                details={"removed": True},
            )
    return view(ctx, configured)


def send_test(ctx: Context, configured: SmtpSettings | None, to: str) -> str:
    """The test button: one message through the relay in use; the address.

    A failure is a `MailError` carrying the relay's own reply.
    """
    address = _address("to", to)
    settings = effective(ctx, configured)
    outcome = "mail.test_sent"
    error = None
    try:
        mail.send_test(settings, address)
    except mail.MailError as exc:
        outcome, error = "mail.test_failed", str(exc)
        raise
    finally:
        with ctx.store.transaction() as session:
            events.record(
                session,
                at=ctx.now(),
                actor=ctx.actor,
                action=outcome,
                object_type=OBJECT_TYPE,
                object_name=settings.host if settings else None,
                details={"to": address, **({"error": error} if error else {})},
            )
    return address


def _settings(values: Stored) -> SmtpSettings:
    """As the mail client takes them; its own checks apply (plain to loopback)."""
    try:
        return SmtpSettings(
            host=values.host,
            from_address=values.from_address,
            port=values.port,
            security=Security(values.security),
            username=values.username,
            password=values.password,
            ca_pem=values.ca_bundle_pem,
        )
    except InvalidInput as exc:
        raise InvalidInput(exc.field.removeprefix("smtp."), exc.reason) from None


def _security(value: str) -> Security:
    try:
        return Security(value.strip().lower())
    except ValueError:
        raise InvalidInput(
            "security", f"{value!r} is not one of starttls, tls, none"
        ) from None


def _text(field: str, value: str, limit: int, *, required: bool = False) -> str:
    value = value.strip()
    if required and not value:
        raise InvalidInput(field, "is required")
    if len(value) > limit:
        raise InvalidInput(field, f"is longer than {limit} characters")
    if set(value) & _CONTROL or (field == "host" and " " in value):
        raise InvalidInput(field, "must not contain spaces or control characters")
    return value


def _address(field: str, value: str) -> str:
    value = _text(field, value, 254, required=True)
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain or " " in value:
        raise InvalidInput(field, f"{value!r} is not an email address")
    return value


def _bundle(data: bytes) -> str:
    if len(data) > MAX_BUNDLE_BYTES:
        raise InvalidInput("ca_bundle", "is larger than 1 MiB; give only the CA")
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        certs = []
    if not certs:
        raise InvalidInput(
            "ca_bundle",
            "holds no PEM certificate; give the relay's CA certificate in PEM",
        )
    return data.decode("ascii", "replace")


def _subjects(pem: str | None) -> tuple[str, ...]:
    if not pem:
        return ()
    try:
        certs = x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        return ("unreadable bundle",)
    return tuple(c.subject.rfc4514_string() for c in certs)


def _password_change(user: str | None, given: str | None) -> str:
    if user is None:
        return "none"
    return "set" if given is not None else "kept"
