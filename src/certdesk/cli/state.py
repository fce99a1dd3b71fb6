"""What every command shares: the data directory and who is acting."""

import contextlib
import getpass
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from certdesk.services import setup
from certdesk.services.context import Context
from certdesk.store.datadir import DataDir

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class CliState:
    data_dir: DataDir
    log_level: str = "warning"

    @contextlib.contextmanager
    def context(self) -> Iterator[Context]:
        store = setup.open_store(self.data_dir)
        try:
            yield Context(store, actor=cli_actor())
        finally:
            store.close()


def cli_actor() -> str:
    """Events from the shell name the operating-system user."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def json_option(func: F) -> F:
    return click.option(
        "--json", "as_json", is_flag=True, help="Print JSON for scripts."
    )(func)


pass_state = click.make_pass_decorator(CliState)
