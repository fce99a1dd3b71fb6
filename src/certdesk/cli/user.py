"""`certdesk user`: accounts for the web interface.

Whoever can run this command on the appliance can already read its data
directory, so it asks for no sign-in. Passwords are read from a file, never
taken as arguments, and one-time passwords are printed once to stdout only.
"""

import sys
from pathlib import Path

import click

from certdesk.cli import output
from certdesk.cli.state import CliState, json_option, pass_state
from certdesk.errors import InvalidInput
from certdesk.services import accounts
from certdesk.services.accounts import Role, UserView

ROLE_CHOICES = [r.value for r in Role]


@click.group()
def user() -> None:
    """Accounts that sign in to the web interface.

    An admin may change anything; an auditor may look at everything but
    change nothing and export no private key. Scripts use API tokens instead
    (certdesk token).
    """


@user.command()
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(ROLE_CHOICES),
    required=True,
    help="admin: may change anything; auditor: may only look.",
)
@click.option("--email", help="Contact address, shown to other administrators.")
@click.option(
    "--password-file",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="File holding the password (first line), or - for standard input. "
    "Without it a one-time password is made, to be changed at the first sign-in.",
)
@json_option
@pass_state
def add(
    state: CliState,
    /,
    as_json: bool,
    name: str,
    role: str,
    email: str | None,
    password_file: Path | None,
) -> None:
    """Add an account NAME (letters, digits, '.', '_' or '-'; lower case).

    The one-time password is printed once; give it to the person, who chooses
    their own at the first sign-in.
    """
    password = _read_password(password_file)
    with state.context() as ctx:
        view, one_time = accounts.add_user(
            ctx, name, role=Role(role), email=email, password=password
        )
    if as_json:
        output.emit_json({**view.as_json(), "one_time_password": one_time})
        return
    click.echo(f"Created user {view.username} ({view.role})")
    if one_time is not None:
        _one_time(one_time, "first")


@user.command("list")
@json_option
@pass_state
def list_(state: CliState, /, as_json: bool) -> None:
    """List accounts: role, email, whether they may sign in, last sign-in."""
    with state.context() as ctx:
        views = accounts.list_users(ctx)
    if as_json:
        output.emit_json([v.as_json() for v in views])
        return
    output.table(
        ["USER", "ROLE", "EMAIL", "STATUS", "LAST SIGN-IN"],
        [
            [
                v.username,
                str(v.role),
                v.email or "-",
                _status(v),
                output.when(v.last_login_at) if v.last_login_at else "never",
            ]
            for v in views
        ],
    )


@user.command()
@click.argument("name")
@json_option
@pass_state
def disable(state: CliState, /, as_json: bool, name: str) -> None:
    """Refuse the account's sign-ins and end its sessions; nothing is deleted.

    The last enabled admin cannot be disabled.
    """
    with state.context() as ctx:
        view = accounts.disable_user(ctx, name)
    if as_json:
        output.emit_json(view.as_json())
    else:
        click.echo(f"Disabled {view.username}; their sessions have ended")


@user.command()
@click.argument("name")
@json_option
@pass_state
def enable(state: CliState, /, as_json: bool, name: str) -> None:
    """Let a disabled account sign in again, with the password it had."""
    with state.context() as ctx:
        view = accounts.enable_user(ctx, name)
    if as_json:
        output.emit_json(view.as_json())
    else:
        click.echo(f"Enabled {view.username}")


@user.command("reset-password")
@click.argument("name")
@json_option
@pass_state
def reset_password(state: CliState, /, as_json: bool, name: str) -> None:
    """Give the account a new one-time password, for a forgotten password.

    It also lifts a lock after failed sign-ins and ends the account's sessions.
    """
    with state.context() as ctx:
        one_time = accounts.reset_password(ctx, name)
        view = accounts.get_user(ctx, name)
    if as_json:
        output.emit_json({"username": view.username, "one_time_password": one_time})
        return
    click.echo(f"Reset the password of {view.username}; their sessions have ended")
    _one_time(one_time, "next")


@user.command("set-email")
@click.argument("name")
@click.argument("email", required=False)
@json_option
@pass_state
def set_email(state: CliState, /, as_json: bool, name: str, email: str | None) -> None:
    """Set the account's email address; without EMAIL, remove it."""
    with state.context() as ctx:
        view = accounts.set_email(ctx, name, email)
    if as_json:
        output.emit_json(view.as_json())
    elif view.email:
        click.echo(f"Email of {view.username}: {view.email}")
    else:
        click.echo(f"Removed the email of {view.username}")


def _read_password(path: Path | None) -> str | None:
    """The first line of a file or of stdin; passwords are never arguments."""
    if path is None:
        return None
    if str(path) == "-":
        text = sys.stdin.readline()
    else:
        try:
            lines = path.read_text().splitlines()
        except OSError as exc:
            raise InvalidInput("password-file", f"cannot read {path}: {exc}") from exc
        text = lines[0] if lines else ""
    value = text.rstrip("\r\n")
    if not value:
        raise InvalidInput("password-file", f"{path} holds no password")
    return value


def _one_time(password: str, which: str) -> None:
    click.echo(f"One-time password: {password}")
    click.echo(f"It must be changed at the {which} sign-in, and is not shown again.")


def _status(v: UserView) -> str:
    if v.disabled:
        return "disabled"
    if v.locked_until is not None:
        until = output.when(v.locked_until)
        return f"locked from {_addresses(v.locked_clients)} until {until}"
    if v.must_change_password:
        return "must change password"
    return "enabled"


def _addresses(count: int) -> str:
    return f"{count} address" + ("" if count == 1 else "es")
