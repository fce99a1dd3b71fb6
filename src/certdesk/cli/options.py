"""Options shared by several commands: the subject fields and passphrases."""

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from certdesk.errors import InvalidInput
from certdesk.pki.keys import KeyType
from certdesk.pki.names import SubjectSpec, check_subject

F = TypeVar("F", bound=Callable[..., Any])

KEY_CHOICES = [k.value for k in KeyType]


def subject_options(func: F) -> F:
    """--name, --key and the subject fields of the guide's Create form."""
    options = [
        click.option("--name", required=True, help="Friendly name shown in lists."),
        click.option(
            "--key",
            "key_type",
            type=click.Choice(KEY_CHOICES),
            default="rsa2048",
            show_default=True,
            help="Key type and size.",
        ),
        click.option("--country", help="ISO 3166 two-letter country code, e.g. US."),
        click.option("--state", help="State or province, written out in full."),
        click.option("--city", help="City or locality."),
        click.option("--org", help="Organization (company) name."),
        click.option("--ou", help="Organizational unit (department)."),
        click.option("--cn", help="Common name: a label for the certificate."),
        click.option(
            "--san",
            "sans",
            multiple=True,
            help="Subject alternative name: DNS name, *.wildcard or IP (repeatable).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def subject_from(params: dict[str, Any]) -> SubjectSpec:
    return check_subject(
        common_name=params["cn"],
        country=params["country"],
        state=params["state"],
        city=params["city"],
        org=params["org"],
        ou=params["ou"],
        sans=list(params["sans"]),
    )


def passphrase_option(func: F) -> F:
    return click.option(
        "--passphrase-file",
        type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
        help="File holding the passphrase (first line), or - for standard input.",
    )(func)


def read_passphrase(path: Path | None) -> bytes | None:
    """The passphrase from a file or stdin; secrets are never arguments."""
    if path is None:
        return None
    if str(path) == "-":
        text = sys.stdin.readline()
    else:
        try:
            text = path.read_text().splitlines()[0] if path.stat().st_size else ""
        except OSError as exc:
            raise InvalidInput("passphrase-file", f"cannot read {path}: {exc}") from exc
    value = text.rstrip("\r\n")
    if not value:
        raise InvalidInput("passphrase-file", f"{path} holds no passphrase")
    return value.encode()


def prompt_passphrase(prompt: str, *, confirm: bool) -> bytes | None:
    """Ask on the terminal; None when there is no terminal to ask on."""
    if not sys.stdin.isatty():
        return None
    value: str = click.prompt(
        prompt, hide_input=True, confirmation_prompt=confirm, err=True
    )
    return value.encode()
