"""`certdesk event`: the audit trail."""

from typing import Any

import click

from certdesk.cli import output
from certdesk.cli.state import CliState, json_option, pass_state
from certdesk.services import audit


@click.group()
def event() -> None:
    """The audit trail: who did what, when, to which object."""


@event.command("list")
@click.option("--action", help="Only actions starting with this, e.g. certificate.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@json_option
@pass_state
def list_(state: CliState, /, as_json: bool, action: str | None, limit: int) -> None:
    """List events, newest first."""
    with state.context() as ctx:
        found = audit.list_events(ctx, action=action, limit=limit)
    if as_json:
        output.emit_json(found)
        return
    output.table(
        ["ID", "WHEN", "WHO", "ACTION", "OBJECT"],
        [
            [
                str(e["id"]),
                e["at"],
                e["actor"],
                e["action"],
                _object(e),
            ]
            for e in found
        ],
    )


def _object(e: dict[str, Any]) -> str:
    parts = [e["object_type"], e["object_id"] or "", e["object_name"] or ""]
    return " ".join(p for p in parts if p)
