"""Where `certdesk serve` listens: flags, then environment, then the TOML file.

The file is `certdesk.toml` in the data directory:

    [serve]
    https_listen = "0.0.0.0:443"
    http_listen = "0.0.0.0:80"
"""

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


def load(
    data_dir: Path, https_flag: str | None, http_flag: str | None
) -> ServeSettings:
    serve_table: dict[str, object] = {}
    path = data_dir / CONFIG_FILE
    if path.exists():
        try:
            parsed = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, OSError) as exc:
            raise InvalidInput("config", f"cannot read {path}: {exc}") from exc
        table = parsed.get("serve", {})
        if isinstance(table, dict):
            serve_table = table

    def pick(flag: str | None, env: str, key: str, default: str) -> Address:
        raw = flag or os.environ.get(env) or serve_table.get(key) or default
        return parse_address(str(raw), key)

    return ServeSettings(
        https=pick(https_flag, "CERTDESK_HTTPS_LISTEN", "https_listen", DEFAULT_HTTPS),
        http=pick(http_flag, "CERTDESK_HTTP_LISTEN", "http_listen", DEFAULT_HTTP),
    )
