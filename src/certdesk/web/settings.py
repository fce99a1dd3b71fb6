"""How `certdesk serve` runs: flags, then environment, then the TOML file.

The file is `certdesk.toml` in the data directory:

    [serve]
    https_listen = "0.0.0.0:443"
    http_listen = "0.0.0.0:80"

    [web]
    max_upload_mib = 4          # largest request body (uploads), in MiB
    session_idle_minutes = 30   # a session unused this long ends
    session_hours = 12          # and every session ends this long after sign-in
    node = "appliance-1"        # the node name shown on Status (default: hostname)

    [smtp]                      # where alerts are sent from; no host, no mail
    host = "mail.example.com"
    port = 587                  # default: 587 starttls, 465 tls, 25 none
    security = "starttls"       # "starttls", "tls", or "none" (loopback only)
    username = "certdesk"       # log in only when set
    password_file = "/etc/certdesk/smtp-password"   # never the password itself
    from_address = "certdesk@example.com"
    timeout = 30                # seconds per SMTP operation
    ca_file = "/etc/certdesk/relay-ca.pem"   # trust this CA instead of the system's
    verify = true               # check the server's certificate

Every [smtp] key has an environment override: CERTDESK_SMTP_ and the key in
capitals (CERTDESK_SMTP_PASSWORD_FILE, CERTDESK_SMTP_FROM_ADDRESS, ...).

    [renewal]                   # the scheduler inside serve
    check_seconds = 60          # look at every managed certificate this often
    renew_before_days = 30      # or a third of the lifetime, if shorter
    reuse_key = false           # true: renewals keep the certificate's key
    poll_seconds = 1            # between questions to the CA during an order
"""

import datetime as dt
import ipaddress
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from certdesk.errors import InvalidInput
from certdesk.services import renewal as scheduling
from certdesk.services.acme.client import Polling
from certdesk.services.mail import DEFAULT_PORTS, Security, SmtpSettings

DEFAULT_HTTPS = "0.0.0.0:8443"
DEFAULT_HTTP = "0.0.0.0:8080"
CONFIG_FILE = "certdesk.toml"


@dataclass(frozen=True)
class Address:
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class ServeSettings:
    https: Address
    http: Address


def parse_address(text: str, setting: str) -> Address:
    """HOST:PORT, with IPv6 hosts in brackets ([::1]:8443)."""
    value = text.strip()
    host, sep, port_text = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit():
        raise InvalidInput(setting, f"{text!r} is not HOST:PORT (e.g. 0.0.0.0:8443)")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise InvalidInput(setting, f"port {port} is outside 1-65535")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host != "localhost":
            raise InvalidInput(
                setting, f"{host!r} is not an IP address to listen on"
            ) from None
    return Address(host, port)


@dataclass(frozen=True)
class WebSettings:
    max_upload_bytes: int
    session_idle: dt.timedelta
    session_absolute: dt.timedelta
    node: str
    # The scheduler serve runs; [renewal] and [smtp].
    renewal: scheduling.Settings = field(default_factory=scheduling.Settings)


def _table(data_dir: Path, name: str) -> dict[str, object]:
    path = data_dir / CONFIG_FILE
    if not path.exists():
        return {}
    try:
        parsed = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, OSError) as exc:
        raise InvalidInput("config", f"cannot read {path}: {exc}") from exc
    table = parsed.get(name, {})
    return table if isinstance(table, dict) else {}


def load_web(data_dir: Path) -> WebSettings:
    table = _table(data_dir, "web")

    def number(key: str, env: str, default: float, low: float, high: float) -> float:
        raw = os.environ.get(env) or table.get(key, default)
        try:
            value = float(str(raw))
        except ValueError:
            raise InvalidInput(key, f"{raw!r} is not a number") from None
        if not low <= value <= high:
            raise InvalidInput(key, f"{value:g} is outside {low:g}-{high:g}")
        return value

    mib = number("max_upload_mib", "CERTDESK_MAX_UPLOAD_MIB", 4, 0.01, 1024)
    idle = number("session_idle_minutes", "CERTDESK_SESSION_IDLE_MINUTES", 30, 1, 1440)
    hours = number("session_hours", "CERTDESK_SESSION_HOURS", 12, 0.1, 720)
    return WebSettings(
        max_upload_bytes=int(mib * 1024 * 1024),
        session_idle=dt.timedelta(minutes=idle),
        session_absolute=dt.timedelta(hours=hours),
        node=str(table.get("node") or ""),
        renewal=load_renewal(data_dir),
    )


def load(
    data_dir: Path, https_flag: str | None, http_flag: str | None
) -> ServeSettings:
    serve_table = _table(data_dir, "serve")

    def pick(flag: str | None, env: str, key: str, default: str) -> Address:
        raw = flag or os.environ.get(env) or serve_table.get(key) or default
        return parse_address(str(raw), key)

    return ServeSettings(
        https=pick(https_flag, "CERTDESK_HTTPS_LISTEN", "https_listen", DEFAULT_HTTPS),
        http=pick(http_flag, "CERTDESK_HTTP_LISTEN", "http_listen", DEFAULT_HTTP),
    )


def load_renewal(data_dir: Path) -> scheduling.Settings:
    """The [renewal] table; the mail relay comes from [smtp]."""
    table = _table(data_dir, "renewal")

    def number(key: str, default: float, low: float, high: float) -> float:
        raw = table.get(key, default)
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise InvalidInput(f"renewal.{key}", f"{raw!r} is not a number")
        if not low <= raw <= high:
            raise InvalidInput(f"renewal.{key}", f"{raw:g} is outside {low:g}-{high:g}")
        return float(raw)

    reuse = table.get("reuse_key", False)
    if not isinstance(reuse, bool):
        raise InvalidInput("renewal.reuse_key", f"{reuse!r} is not true or false")
    return scheduling.Settings(
        check_seconds=number("check_seconds", 60, 1, 86400),
        policy=scheduling.policy_for_days(number("renew_before_days", 30, 1, 365)),
        reuse_key=reuse,
        polling=Polling(interval=number("poll_seconds", 1, 0.01, 60)),
        smtp=load_smtp(data_dir),
    )


_SMTP_KEYS = (
    "host",
    "port",
    "security",
    "username",
    "password_file",
    "from_address",
    "timeout",
    "ca_file",
    "verify",
)


def load_smtp(data_dir: Path) -> SmtpSettings | None:
    """The [smtp] table with CERTDESK_SMTP_* overrides; None when no host is set.

    The password is read from `password_file` (relative paths are in the data
    directory), so the TOML file itself never holds it.
    """
    table = _table(data_dir, "smtp")
    raw: dict[str, str] = {}
    for key in _SMTP_KEYS:
        value = os.environ.get(f"CERTDESK_SMTP_{key.upper()}", table.get(key))
        if value is not None and str(value).strip() != "":
            raw[key] = value if isinstance(value, str) else _toml_text(value)
    if "password" in table:
        raise InvalidInput(
            "smtp.password",
            "the password does not belong in certdesk.toml; put it in a file"
            " readable only by certdesk and name it in [smtp] password_file",
        )
    if "host" not in raw:
        return None

    security_text = raw.get("security", "starttls").strip().lower()
    try:
        security = Security(security_text)
    except ValueError:
        raise InvalidInput(
            "smtp.security", f"{security_text!r} is not one of starttls, tls, none"
        ) from None
    port = _whole(raw.get("port", str(DEFAULT_PORTS[security])), "smtp.port", 65535)
    timeout = _seconds(raw.get("timeout", "30"))
    sender = raw.get("from_address", "").strip()
    if "@" not in sender:
        raise InvalidInput(
            "smtp.from_address",
            "set the address alerts come from, such as certdesk@example.com",
        )
    username = raw.get("username", "").strip() or None
    password = _password(data_dir, raw.get("password_file"), username)
    verify = raw.get("verify", "true").strip().lower()
    if verify not in {"true", "false"}:
        raise InvalidInput("smtp.verify", f"{verify!r} is not true or false")

    return SmtpSettings(
        host=raw["host"].strip(),
        port=port,
        security=security,
        username=username,
        password=password,
        from_address=sender,
        timeout=timeout,
        ca_file=_existing(data_dir, raw.get("ca_file"), "smtp.ca_file"),
        verify=verify == "true",
    )


def _toml_text(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _whole(text: str, setting: str, high: int) -> int:
    if not text.strip().isdigit() or not 1 <= int(text) <= high:
        raise InvalidInput(setting, f"{text!r} is not a number from 1 to {high}")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InvalidInput("smtp.timeout", f"{text!r} is not a number") from None
    if not 1 <= value <= 600:
        raise InvalidInput("smtp.timeout", f"{value:g} is outside 1-600 seconds")
    return value


def _existing(data_dir: Path, name: str | None, setting: str) -> str | None:
    if name is None:
        return None
    path = data_dir / Path(name).expanduser()
    if not path.is_file():
        raise InvalidInput(setting, f"{path} is not a readable file")
    return str(path)


def _password(data_dir: Path, name: str | None, username: str | None) -> str | None:
    if name is None:
        if username is not None:
            raise InvalidInput(
                "smtp.password_file",
                "a username is set, so name the file holding its password",
            )
        return None
    path = data_dir / Path(name).expanduser()
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            "smtp.password_file", f"cannot read {path}: {exc.__class__.__name__}"
        ) from None
    password = text.rstrip("\r\n")
    if not password:
        raise InvalidInput("smtp.password_file", f"{path} is empty")
    return password
