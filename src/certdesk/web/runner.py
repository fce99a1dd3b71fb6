"""`certdesk serve`: one asyncio process with the HTTPS and HTTP listeners.

The HTTPS socket listens with a context that only chooses: each handshake's
SNI picks a certificate's own context (built on first use). A watcher polls
the store's revision and swaps in a new served set within `poll` seconds of a
change, without a restart and without touching open connections. Next to
it runs the renewal scheduler (`services/renewal.run_forever`); with several
workers each runs one, and the per-certificate lock in the store keeps them
from renewing one certificate twice.
"""

import asyncio
import logging
import signal
import socket
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from certdesk.errors import StartupError
from certdesk.services import renewal, serving
from certdesk.services.context import Context
from certdesk.services.sessions import SessionPolicy
from certdesk.tls.router import SniRouter
from certdesk.web.config import WebConfig
from certdesk.web.settings import Address, ServeSettings, WebSettings
from certdesk.web.site import http_app, https_app

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5


def run(main: Coroutine[Any, Any, None]) -> None:
    """Run the server's coroutine on uvloop where it is installed.

    uvloop's TLS transport costs markedly less CPU per handshake than the
    standard loop's (bench/serve_bench.py measures it); both work the same.
    """
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    uvloop.run(main)


def listen_socket(address: Address, *, reuse_port: bool = False) -> socket.socket:
    """A bound TCP socket, created with IPPROTO_TCP so TCP_NODELAY applies.

    asyncio sets TCP_NODELAY only on sockets whose protocol is TCP; without it
    every close of a short connection stalls on delayed acknowledgements.
    With `reuse_port`, several worker processes bind the same address and the
    kernel spreads connections between them.
    """
    family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((address.host, address.port))
    except OSError as exc:
        sock.close()
        hint = (
            "; ports below 1024 need root or CAP_NET_BIND_SERVICE"
            if address.port < 1024
            else ""
        )
        raise StartupError(f"cannot listen on {address}: {exc.strerror}{hint}") from exc
    sock.listen(1024)
    sock.setblocking(False)
    return sock


@dataclass
class Running:
    """A started server: its router, sockets, and a way to stop it."""

    router: SniRouter
    https: socket.socket
    http: socket.socket
    stop: Callable[[], None]


async def serve(
    ctx: Context,
    settings: ServeSettings,
    web_settings: WebSettings,
    *,
    poll: float = POLL_SECONDS,
    reuse_port: bool = False,
    started: Callable[[Running], None] | None = None,
    renewals: renewal.Settings | None = None,
) -> None:
    """Run until SIGTERM or SIGINT (or `Running.stop`), then close cleanly.

    `renewals` (the scheduler's settings) defaults to those `load_web` read.
    """
    if renewals is None:
        renewals = web_settings.renewal
    router = SniRouter(serving.context_loader(ctx), ctx.clock)
    router.update(await asyncio.to_thread(serving.served_set, ctx))
    if router.served.default is not None:
        # The default answers clients without SNI: have it ready before the
        # first one arrives. Every other context is built on first use.
        await asyncio.to_thread(router.context_for, router.served.default.id)
    https_sock = listen_socket(settings.https, reuse_port=reuse_port)
    http_sock = listen_socket(settings.http, reuse_port=reuse_port)
    web = WebConfig(
        ctx,
        session_policy=SessionPolicy(
            idle=web_settings.session_idle, absolute=web_settings.session_absolute
        ),
        max_upload_bytes=web_settings.max_upload_bytes,
        started_at=time.time(),
        node=web_settings.node,
        smtp_file=web_settings.renewal.smtp,
    )
    servers = [
        _server(https_app(web), router),
        _server(http_app(ctx, settings.https.port), None),
    ]

    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, done.set)

    await servers[0].startup(sockets=[https_sock])
    await servers[1].startup(sockets=[http_sock])
    default = router.served.default
    log.info(
        "listening",
        extra={
            "https": str(settings.https),
            "http": str(settings.http),
            "cert": default.name if default else None,
        },
    )
    watcher = asyncio.create_task(_watch(ctx, router, poll))
    stopping = asyncio.Event()
    scheduler = asyncio.create_task(renewal.run_forever(ctx, renewals, stopping))
    if started is not None:
        started(Running(router, https_sock, http_sock, done.set))
    try:
        await done.wait()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        watcher.cancel()
        stopping.set()
        try:
            # A pass in the middle of an order finishes in its thread; the
            # lock it holds lapses by itself if the process ends first.
            await asyncio.wait_for(scheduler, timeout=5)
        except TimeoutError:
            log.warning("renewal pass still running at stop; its lock will lapse")
        for server, sock in zip(servers, (https_sock, http_sock), strict=True):
            server.should_exit = True
            await server.shutdown(sockets=[sock])
        log.info("stopped")


def _server(app: ASGIApp, router: SniRouter | None) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        log_config=None,
        lifespan="off",
        server_header=False,
        proxy_headers=False,
        access_log=False,
    )
    config.load()
    if router is not None:
        config.ssl = router.listening_context()
    server = uvicorn.Server(config)
    # Both servers share this loop and its signal handling, so their public
    # `serve()` (which installs handlers of its own) is not used; this is the
    # one step of it that `startup()` relies on.
    server.lifespan = config.lifespan_class(config)
    return server


async def _watch(ctx: Context, router: SniRouter, poll: float) -> None:
    """Swap in a new served set whenever the store's revision moves."""
    seen = await asyncio.to_thread(serving.revision, ctx)
    while True:
        await asyncio.sleep(poll)
        try:
            current = await asyncio.to_thread(serving.revision, ctx)
            if current == seen:
                continue
            router.update(await asyncio.to_thread(serving.served_set, ctx))
            seen = current
            default = router.served.default
            log.info(
                "served set updated",
                extra={"cert": default.name if default else None},
            )
        except Exception:
            # Keep serving what was last seen while the store is unreachable.
            log.exception("cannot read the store; serving the last known set")
