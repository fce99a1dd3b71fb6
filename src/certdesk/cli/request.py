"""`certdesk request`: certificate signing requests."""

from typing import Any

import click

from certdesk.cli import output
from certdesk.cli.options import subject_from, subject_options
from certdesk.cli.state import CliState, json_option, pass_state
from certdesk.pki.keys import KeyType
from certdesk.services import requests


@click.group()
def request() -> None:
    """Certificate signing requests: the key stays here, the request goes to a CA."""


@request.command()
@subject_options
@click.option(
    "--from",
    "like",
    metavar="CERT",
    help="Copy subject and SANs from a stored certificate (to re-key or change "
    "CA); options given override them.",
)
@json_option
@pass_state
def create(state: CliState, /, as_json: bool, like: str | None, **params: Any) -> None:
    """Create a key and a request for it; print the request data to send a CA.

    Each request gets a new key, so a request made --from an existing
    certificate is a re-key: import the CA's answer and it becomes a new
    certificate beside the old one, which can be removed once it is served.
    """
    with state.context() as ctx:
        if like is not None:
            copied = requests.fields_like(ctx, like)
            for field, value in copied.items():
                if field == "sans":
                    params["sans"] = params["sans"] or tuple(value)
                elif field != "name" and params.get(field) is None:
                    params[field] = value
        subject = subject_from(params)
        created = requests.create_request(
            ctx,
            name=params["name"],
            key_type=KeyType(params["key_type"]),
            subject=subject,
        )
    view = created.view
    output.created(
        view.as_json(),
        created.warnings,
        as_json=as_json,
        message=f"Created request {view.id} ({view.name})\n"
        f"Show its request data with: certdesk request show {view.id} --pem",
    )


@request.command("list")
@json_option
@pass_state
def list_(state: CliState, /, as_json: bool) -> None:
    """List requests, pending and fulfilled."""
    with state.context() as ctx:
        views = requests.list_requests(ctx)
    if as_json:
        output.emit_json([v.as_json(with_pem=False) for v in views])
    else:
        output.request_rows(views)


@request.command()
@click.argument("ref")
@click.option("--pem", "pem_only", is_flag=True, help="Print only the request data.")
@json_option
@pass_state
def show(state: CliState, /, as_json: bool, ref: str, pem_only: bool) -> None:
    """Show a request and its request data (PEM), ready to paste into a CA."""
    with state.context() as ctx:
        view = requests.show(ctx, ref)
    if as_json:
        output.emit_json(view.as_json())
    elif pem_only:
        click.echo(view.pem, nl=False)
    else:
        output.request_detail(view)


@request.command()
@click.argument("ref")
@json_option
@pass_state
def delete(state: CliState, /, as_json: bool, ref: str) -> None:
    """Delete a request. A pending request's private key is deleted with it."""
    with state.context() as ctx:
        view = requests.delete(ctx, ref)
    if as_json:
        output.emit_json({"id": view.id, "name": view.name, "status": view.status})
    else:
        click.echo(f"Deleted request {view.id} ({view.name})")
