"""`certdesk serve`: the TLS front end and the HTTP listener."""

import multiprocessing
import os
import signal
import socket
import threading
import time
from pathlib import Path
from types import FrameType

import click

from certdesk.cli import logs
from certdesk.cli.state import CliState, cli_actor, pass_state
from certdesk.services import accounts, setup
from certdesk.services.context import Context
from certdesk.store.datadir import DataDir
from certdesk.web import runner, settings
from certdesk.web.runner import Running
from certdesk.web.settings import Address, ServeSettings


@click.command()
@click.option(
    "--https-listen",
    metavar="HOST:PORT",
    help="HTTPS address [env CERTDESK_HTTPS_LISTEN; default "
    f"{settings.DEFAULT_HTTPS}].",
)
@click.option(
    "--http-listen",
    metavar="HOST:PORT",
    help=f"HTTP address [env CERTDESK_HTTP_LISTEN; default {settings.DEFAULT_HTTP}].",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Processes sharing the ports (SO_REUSEPORT), once one core is the limit.",
)
@pass_state
def serve(
    state: CliState, /, https_listen: str | None, http_listen: str | None, workers: int
) -> None:
    """Serve HTTPS with the certificate each client's SNI asks for.

    Exact SAN first, then a wildcard covering the leftmost label, then the
    default certificate. Changes made with other commands are served within a
    second, without a restart. HTTPS also serves the administrators' pages at
    /appliance and the REST API at /api/v1; the first start on a store with no
    accounts prints the one-time password of "admin". HTTP answers ACME
    challenges and redirects everything else to HTTPS. Managed (ACME)
    certificates are renewed here, and alerts mailed. Stops cleanly on
    SIGTERM or Ctrl-C. Settings also come from certdesk.toml in the data
    directory: [serve], [web], [renewal], [smtp].
    """
    chosen = settings.load(state.data_dir.path, https_listen, http_listen)
    if not state.data_dir.exists():
        setup.init(state.data_dir, cli_actor())
        click.echo(f"Initialised {state.data_dir.path}")
    with state.context() as ctx:
        first_password = accounts.ensure_first_admin(ctx)
    if first_password is not None:
        _first_admin(chosen, first_password)

    if workers == 1:
        _serve_one(state.data_dir, chosen, announce=True, reuse_port=False)
    else:
        _serve_many(state.data_dir, chosen, workers, state.log_level)
    click.echo("Stopped")


def _first_admin(chosen: ServeSettings, password: str) -> None:
    """Tell whoever started the appliance how to sign in, once, on stdout only.

    Never logged: the password exists in clear only here.
    """
    host = chosen.https.host
    if host in ("0.0.0.0", "::"):  # noqa: S104 (compared, not bound)
        host = socket.gethostname() or "localhost"
    url = f"https://{Address(host, chosen.https.port)}/appliance/login"
    click.echo(f"First sign-in: user name {accounts.FIRST_ADMIN}")
    click.echo(f"One-time password: {password}  (shown only now)")
    click.echo(f"Sign in at {url}; you will be asked to choose a new password.")


def _serve_one(
    data_dir: DataDir, chosen: ServeSettings, *, announce: bool, reuse_port: bool
) -> None:
    def started(running: Running) -> None:
        if not announce:
            return
        default = running.router.served.default
        click.echo(f"HTTPS on {chosen.https}, HTTP on {chosen.http}")
        if default is not None:
            click.echo(f"Default certificate: {default.id} ({default.name})")

    web = settings.load_web(data_dir.path)
    store = setup.open_store(data_dir)
    try:
        ctx = Context(store, actor=cli_actor())
        runner.run(
            runner.serve(ctx, chosen, web, reuse_port=reuse_port, started=started)
        )
    finally:
        store.close()


def _worker(path: str, chosen: ServeSettings, log_level: str, parent: int) -> None:
    logs.configure(log_level)
    threading.Thread(target=_stop_with_parent, args=(parent,), daemon=True).start()
    _serve_one(DataDir(Path(path)), chosen, announce=False, reuse_port=True)


def _stop_with_parent(parent: int) -> None:
    """A worker whose parent died (even by SIGKILL) stops instead of lingering."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)


def _serve_many(
    data_dir: DataDir, chosen: ServeSettings, workers: int, log_level: str
) -> None:
    """Start `workers` processes on the same ports; stop them all on a signal."""
    spawn = multiprocessing.get_context("spawn")
    processes = [
        spawn.Process(
            target=_worker,
            args=(str(data_dir.path), chosen, log_level, os.getpid()),
        )
        for _ in range(workers)
    ]
    for process in processes:
        process.start()
    click.echo(f"HTTPS on {chosen.https}, HTTP on {chosen.http}, {workers} workers")

    def stop(signum: int, _frame: FrameType | None) -> None:
        for process in processes:
            if process.is_alive() and process.pid is not None:
                process.terminate()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        for process in processes:
            process.join()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
