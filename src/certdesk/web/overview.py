"""Status > Basics, as one value for the page and the API alike."""

import socket
import time
from dataclasses import dataclass
from typing import Any

from certdesk import __version__
from certdesk.services import certificates, serving
from certdesk.services.context import Context
from certdesk.services.serving import ServedName
from certdesk.web.config import WebConfig


@dataclass(frozen=True)
class DefaultCertificate:
    id: int
    name: str
    days_left: int


@dataclass(frozen=True)
class Basics:
    hostname: str
    version: str
    node: str
    uptime_seconds: int
    default: DefaultCertificate | None
    served: list[ServedName]

    @property
    def uptime(self) -> str:
        days, rest = divmod(self.uptime_seconds, 86400)
        hours, rest = divmod(rest, 3600)
        minutes = rest // 60
        if days:
            return f"{days} d {hours} h"
        if hours:
            return f"{hours} h {minutes} min"
        return f"{minutes} min"

    def as_json(self) -> dict[str, Any]:
        return {
            "hostname": self.hostname,
            "version": self.version,
            "node": self.node,
            "uptime_seconds": self.uptime_seconds,
            "default_certificate": None
            if self.default is None
            else {
                "id": self.default.id,
                "name": self.default.name,
                "days_left": self.default.days_left,
            },
            "served_names": [s.as_json() for s in self.served],
        }


def basics(ctx: Context, config: WebConfig) -> Basics:
    default = certificates.default_certificate(ctx)
    started = config.started_at or time.time()
    return Basics(
        hostname=socket.gethostname(),
        version=__version__,
        node=config.node or socket.gethostname(),
        uptime_seconds=max(0, int(time.time() - started)),
        default=None
        if default is None
        else DefaultCertificate(default.id, default.name, default.days_left),
        served=serving.served_names(ctx),
    )
