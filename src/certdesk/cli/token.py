"""`certdesk token`: API tokens for scripts that call the web API."""

import click

from certdesk.cli import output
from certdesk.cli.state import CliState, json_option, pass_state
from certdesk.services import tokens
from certdesk.services.accounts import Role

ROLE_CHOICES = [r.value for r in Role]


@click.group()
def token() -> None:
    """API tokens: bearer secrets for scripts, each with its own role.

    A script sends one as 'Authorization: Bearer <token>'. The appliance keeps
    only a hash, so a token is shown once, when it is made; a lost token is
    revoked and replaced.
    """


@token.command()
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(ROLE_CHOICES),
    required=True,
    help="admin: may change anything; auditor: may only look.",
)
@json_option
@pass_state
def create(state: CliState, /, as_json: bool, name: str, role: str) -> None:
    """Make a token NAME (say, the script that uses it) and print it once."""
    with state.context() as ctx:
        view, secret = tokens.create_token(ctx, name, role=Role(role))
    if as_json:
        output.emit_json({**view.as_json(), "token": secret})
        return
    click.echo(f"Created API token {view.id} ({view.name}, {view.role})")
    click.echo(f"Token: {secret}")
    click.echo(
        "Copy it now: it cannot be shown again. Send it as "
        "'Authorization: Bearer <token>'."
    )


@token.command("list")
@json_option
@pass_state
def list_(state: CliState, /, as_json: bool) -> None:
    """List tokens, revoked ones included, with who made them and last use."""
    with state.context() as ctx:
        views = tokens.list_tokens(ctx)
    if as_json:
        output.emit_json([v.as_json() for v in views])
        return
    output.table(
        ["ID", "NAME", "ROLE", "CREATED", "BY", "LAST USED", "STATUS"],
        [
            [
                str(v.id),
                v.name,
                str(v.role),
                output.when(v.created_at),
                v.created_by,
                output.when(v.last_used_at) if v.last_used_at else "never",
                f"revoked {output.when(v.revoked_at)}" if v.revoked_at else "active",
            ]
            for v in views
        ],
    )


@token.command()
@click.argument("ref", metavar="ID|NAME")
@json_option
@pass_state
def revoke(state: CliState, /, as_json: bool, ref: str) -> None:
    """Refuse a token from now on. Name it by id, or by the name of a token in use.

    Revoked tokens stay listed for the audit trail; their name can be reused.
    """
    with state.context() as ctx:
        view = tokens.revoke_token(ctx, ref)
    if as_json:
        output.emit_json(view.as_json())
    else:
        click.echo(f"Revoked API token {view.id} ({view.name})")
