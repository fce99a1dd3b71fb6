"""The `certdesk` command: global options, the error edge, and the groups.

Exit codes: 0 success, 1 input or state rejected (reason on stderr), 2 bad
usage, 3 an unexpected internal error (a bug; details go to the log file).
"""

import contextlib
import importlib
import logging
import sys
import traceback
from pathlib import Path

import click

from certdesk import __version__
from certdesk.cli import logs
from certdesk.cli.output import emit_json
from certdesk.cli.state import CliState, cli_actor, json_option, pass_state
from certdesk.errors import CertdeskError
from certdesk.services import setup
from certdesk.store.datadir import DataDir

EXIT_REJECTED = 1
EXIT_INTERNAL = 3

# Each command group's module, imported only when that group runs: `serve`
# brings in the web stack and `acme` the ACME library, and a one-shot command
# such as `acme request` should not pay for the other at every start.
GROUPS = {
    "cert": "certdesk.cli.cert:cert",
    "request": "certdesk.cli.request:request",
    "event": "certdesk.cli.event:event",
    "user": "certdesk.cli.user:user",
    "token": "certdesk.cli.token:token",
    "acme": "certdesk.cli.acme:acme",
    "serve": "certdesk.cli.serve:serve",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported the first time they are asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *GROUPS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in GROUPS:
            return super().get_command(ctx, cmd_name)
        module, _, attribute = GROUPS[cmd_name].partition(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="CERTDESK_DATA_DIR",
    help="Data directory [env CERTDESK_DATA_DIR; default ./certdesk-data].",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="warning",
    show_default=True,
    help="Operational log on stderr (never holds key material).",
)
@click.version_option(__version__, prog_name="certdesk")
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None, log_level: str) -> None:
    """certdesk: TLS certificates for a self-hosted appliance.

    Create keys, requests and self-signed certificates; import what your CA
    returns in any format; inspect chains; export for other systems; obtain
    and renew certificates over ACME; serve them, each client getting the
    certificate its SNI asks for, with the web interface and API alongside.
    """
    logs.configure(log_level)
    ctx.obj = CliState(DataDir.locate(str(data_dir) if data_dir else None), log_level)


@cli.command()
@json_option
@pass_state
def init(state: CliState, /, as_json: bool) -> None:
    """Create the data directory, master key and factory default certificate.

    Safe to run again: an initialised directory is left as it is.
    """
    result = setup.init(state.data_dir, cli_actor())
    if as_json:
        emit_json(
            {
                "created": result.created,
                "data_dir": str(result.data_dir.path),
                "default_certificate_id": result.default_certificate_id,
            }
        )
    elif result.created:
        click.echo(f"Initialised {result.data_dir.path}")
        click.echo(
            f"Factory default certificate: id {result.default_certificate_id} "
            "(self-signed; replace it with your own)"
        )
    else:
        click.echo(f"{result.data_dir.path} is already initialised; nothing changed")


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the command and turns errors into exit codes."""
    logging.basicConfig(
        level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        cli.main(args=argv, prog_name="certdesk", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        click.echo("aborted", err=True)
        return EXIT_REJECTED
    except CertdeskError as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_REJECTED
    except Exception as exc:
        return _internal_error(exc)
    return 0


def _internal_error(exc: Exception) -> int:
    """Log a bug once, in full, to a file; tell the user briefly where."""
    path = Path.home() / ".certdesk-error.log"
    with contextlib.suppress(OSError), path.open("a") as fh:
        fh.write("".join(traceback.format_exception(exc)))
    click.echo(
        f"internal error ({type(exc).__name__}); details were written to {path}. "
        "This is a bug in certdesk: please report it.",
        err=True,
    )
    return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
