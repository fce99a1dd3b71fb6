"""`certdesk serve`: the TLS front end and the HTTP listener."""

import asyncio

import click

from certdesk.cli.state import CliState, cli_actor, pass_state
from certdesk.services import setup
from certdesk.web import runner, settings
from certdesk.web.runner import Running


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
@pass_state
def serve(
    state: CliState, /, https_listen: str | None, http_listen: str | None
) -> None:
    """Serve HTTPS with the certificate each client's SNI asks for.

    Exact SAN first, then a wildcard covering the leftmost label, then the
    default certificate. Changes made with other commands are served within a
    second, without a restart. HTTP answers ACME challenges and redirects
    everything else to HTTPS. Stops cleanly on SIGTERM or Ctrl-C. Ports also
    come from [serve] in certdesk.toml in the data directory.
    """
    chosen = settings.load(state.data_dir.path, https_listen, http_listen)
    if not state.data_dir.exists():
        setup.init(state.data_dir, cli_actor())
        click.echo(f"Initialised {state.data_dir.path}")

    def started(running: Running) -> None:
        default = running.router.served.default
        click.echo(f"HTTPS on {chosen.https}, HTTP on {chosen.http}")
        if default is not None:
            click.echo(f"Default certificate: {default.id} ({default.name})")

    with state.context() as ctx:
        asyncio.run(runner.serve(ctx, chosen, started=started))
    click.echo("Stopped")
