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
"""

import datetime as dt
import ipaddress
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from certdesk.errors import InvalidInput

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
