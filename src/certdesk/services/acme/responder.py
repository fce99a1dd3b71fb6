"""Answering HTTP-01 when no `certdesk serve` does, for the length of an order.

Answers come from the `acme_challenges` table, as serve's HTTP listener reads
them, so it makes no difference to the CA which of the two answers. Whether
serve is running is judged by binding its address: if the address is taken,
serve (or whatever holds it) is assumed to answer, and the pre-flight check
finds out if that is wrong.
"""

import contextlib
import errno
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from certdesk.errors import StartupError
from certdesk.services import serving
from certdesk.services.context import Context

log = logging.getLogger(__name__)

PREFIX = "/.well-known/acme-challenge/"


@dataclass(frozen=True)
class Answering:
    """Who answers the CA: "serve" (address in use) or "standalone" (us)."""

    who: str
    host: str
    port: int

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


class _Server(ThreadingHTTPServer):
    # Pebble validates each challenge three times at once.
    daemon_threads = True
    # Never SO_REUSEPORT: binding must fail while serve holds the port.
    allow_reuse_address = True

    def __init__(self, host: str, port: int, ctx: Context) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.ctx = ctx
        super().__init__((host, port), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "certdesk-acme"
    sys_version = ""

    def do_GET(self) -> None:
        answer = None
        path = self.path.split("?", 1)[0]
        if path.startswith(PREFIX):
            answer = serving.challenge_answer(self.server.ctx, path[len(PREFIX) :])
        body = (answer or "unknown challenge token\n").encode()
        self.send_response(200 if answer is not None else 404)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("challenge request: " + format, *args)


@contextlib.contextmanager
def answering(ctx: Context, host: str, port: int) -> Iterator[Answering]:
    """Answer HTTP-01 on host:port for the block, unless serve already does."""
    try:
        server = _Server(host, port, ctx)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            yield Answering("serve", host, port)
            return
        raise StartupError(
            f"cannot listen on {host}:{port} to answer the CA ({exc.strerror}); "
            "start 'certdesk serve' (it answers challenges) or choose another "
            "address with --http-listen"
        ) from exc

    # A short poll so that stopping does not add half a second to every order.
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="acme-http01",
        daemon=True,
    )
    thread.start()
    try:
        yield Answering("standalone", host, port)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
