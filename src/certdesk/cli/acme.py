"""`certdesk acme`: certificates from Let's Encrypt and other ACME CAs."""

import contextlib
import datetime as dt
import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from certdesk.cli import output
from certdesk.cli.state import CliState, json_option, pass_state
from certdesk.errors import InvalidInput
from certdesk.pki.keys import KeyType
from certdesk.services.acme import directories, ordering, preflight, revocation
from certdesk.services.acme.client import Eab, Polling
from certdesk.services.acme.ordering import Issued, OrderOptions, Progress
from certdesk.services.acme.responder import answering
from certdesk.services.acme.status import ManagedView, list_managed
from certdesk.services.context import Context
from certdesk.web import settings

KEY_CHOICES = ["p256", "p384", "rsa2048", "rsa4096"]


@click.group()
def acme() -> None:
    """Certificates the appliance obtains and renews itself over ACME.

    The CA checks each name over HTTP-01: it fetches
    http://NAME/.well-known/acme-challenge/TOKEN on port 80, which must reach
    this appliance. A running 'certdesk serve' answers; when none runs, the
    command answers on the HTTP address itself for the length of the order.
    """


def order_options(func: click.decorators.FC) -> click.decorators.FC:
    """What request and renew share: how the CA reaches us, and polling."""
    options = [
        click.option(
            "--http-listen",
            metavar="HOST:PORT",
            help="Where challenges are answered when no 'certdesk serve' runs "
            "[default: serve's HTTP address, env CERTDESK_HTTP_LISTEN, "
            f"certdesk.toml, {settings.DEFAULT_HTTP}].",
        ),
        click.option(
            "--resolve",
            "resolve",
            multiple=True,
            metavar="NAME:IP",
            help="Pre-flight only: take NAME to be at IP instead of asking DNS "
            "(like curl --resolve). The CA still uses its own DNS. Repeatable.",
        ),
        click.option(
            "--challenge-port",
            type=click.IntRange(1, 65535),
            default=80,
            show_default=True,
            help="Port the CA connects to for HTTP-01, probed by the pre-flight "
            "(80 for every public CA; a test CA may use another).",
        ),
        click.option(
            "--skip-preflight",
            is_flag=True,
            help="Order without first checking that each name reaches this "
            "appliance (for names only the CA's resolver knows, or NAT hairpins).",
        ),
        click.option(
            "--poll-interval",
            type=click.FloatRange(0.01, 60),
            default=1.0,
            show_default=True,
            help="Longest wait between questions to the CA: waits start at 50 ms "
            "and double up to this (longer when the CA says Retry-After).",
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(5, 3600),
            default=120.0,
            show_default=True,
            help="Seconds an order may take in all before it is given up.",
        ),
        click.option(
            "--eab-kid",
            metavar="KID",
            help="External Account Binding key id, for CAs that require one.",
        ),
        click.option(
            "--eab-hmac-file",
            type=click.Path(dir_okay=False, path_type=Path),
            help="File holding the EAB HMAC key (base64url, as the CA shows it).",
        ),
        click.option("--email", metavar="E", help="Contact address for the account."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@acme.command()
@click.option(
    "--name",
    "names",
    multiple=True,
    required=True,
    metavar="HOST",
    help="A host name (or IP address) to certify; repeat for more. The first "
    "is the common name.",
)
@click.option(
    "--key",
    "key_type",
    type=click.Choice(KEY_CHOICES),
    default="p256",
    show_default=True,
    help="Key for the certificate, made and kept on this appliance.",
)
@click.option(
    "--directory",
    metavar="URL",
    help="letsencrypt, letsencrypt-staging, or an ACME directory URL "
    "[default: letsencrypt].",
)
@click.option(
    "--ca-bundle",
    type=click.Path(dir_okay=False, path_type=Path),
    help="PEM roots to trust for the CA's own HTTPS (an internal CA); kept "
    "with the account for renewals.",
)
@click.option(
    "--renew-before-days",
    type=click.IntRange(1, 365),
    default=30,
    show_default=True,
    help="Renew this many days before expiry.",
)
@click.option("--reuse-key", is_flag=True, help="Keep the same key at each renewal.")
@order_options
@json_option
@pass_state
def request(
    state: CliState,
    /,
    as_json: bool,
    names: tuple[str, ...],
    key_type: str,
    directory: str | None,
    ca_bundle: Path | None,
    renew_before_days: int,
    reuse_key: bool,
    **order: Any,
) -> None:
    """Order a certificate for one or more names; it is then served and renewed.

    Before the order, each name is resolved here and its challenge URL
    fetched, so that a name that will fail is refused without spending the
    CA's rate limit. A progress line per step goes to stderr.

    \b
    Examples:
      certdesk acme request --name support.example.com
      certdesk acme request --name a.example.com --name b.example.com \\
          --key rsa2048 --directory letsencrypt-staging
    """
    bundle = _read(ca_bundle, "ca-bundle") if ca_bundle else None
    chosen = directories.choose(directory, bundle)
    with state.context() as ctx, _answering(state, ctx, order, as_json) as say:
        issued = ordering.request_certificate(
            ctx,
            names,
            KeyType(key_type),
            _options(chosen, order, say),
            renew_before_days=renew_before_days,
            reuse_key=reuse_key,
        )
    _issued(issued, as_json, "Issued")


@acme.command()
@click.argument("ref", metavar="ID")
@order_options
@json_option
@pass_state
def renew(state: CliState, /, as_json: bool, ref: str, **order: Any) -> None:
    """Renew a managed certificate now (ID from 'certdesk acme status').

    The same path the scheduler in 'certdesk serve' takes: a new order for
    the same names, with a new key unless the certificate was requested with
    --reuse-key. The new certificate replaces the old one in service at once;
    the old one is deleted by the scheduler once every server serves the new
    one (or by the next renewal).
    """
    with state.context() as ctx, _answering(state, ctx, order, as_json) as say:
        # A renewal uses the directory of the account that issued it.
        unused = directories.choose(None)
        issued = ordering.renew(ctx, ref, _options(unused, order, say))
    _issued(issued, as_json, "Renewed")


@acme.command()
@click.argument("ref", metavar="ID")
@click.option(
    "--reason",
    type=click.Choice([r.name for r in revocation.Reason]),
    default="unspecified",
    show_default=True,
    help="Why, as RFC 5280 names it (keyCompromise if the key leaked).",
)
@json_option
@pass_state
def revoke(state: CliState, /, as_json: bool, ref: str, reason: str) -> None:
    """Revoke a managed certificate at its CA and stop serving it.

    The certificate stays listed (state revoked) without its private key,
    which is deleted; remove the record with 'certdesk cert delete ID'.
    """
    with state.context() as ctx:
        done = revocation.revoke(ctx, ref, revocation.Reason[reason])
    if as_json:
        output.emit_json(done.as_json())
    else:
        click.echo(
            f"Revoked certificate {done.certificate_id} ({done.name}), serial "
            f"{done.serial}, reason {done.reason}; it is no longer served"
        )


@acme.command()
@json_option
@pass_state
def status(state: CliState, /, as_json: bool) -> None:
    """Every managed certificate: state, expiry, next renewal and why, last error."""
    with state.context() as ctx:
        views = list_managed(ctx)
    if as_json:
        output.emit_json([v.as_json() for v in views])
        return
    output.table(
        ["ID", "NAME", "STATE", "EXPIRES", "NEXT RENEWAL", "WHY", "LAST ATTEMPT"],
        [_row(v) for v in views],
    )
    for v in views:
        if v.last_error:
            click.echo(f"\n{v.certificate_id} ({v.name}) last error: {v.last_error}")
        if v.retry_not_before is not None:
            why = "rate limited" if v.rate_limited else "the CA asked to wait"
            click.echo(
                f"{v.certificate_id} ({v.name}): {why} until "
                f"{_when(v.retry_not_before)} UTC"
            )
        if v.superseded_certificate_id is not None:
            click.echo(
                f"{v.certificate_id} ({v.name}) replaced certificate "
                f"{v.superseded_certificate_id}, removed once the new one is served"
            )


def _row(v: ManagedView) -> list[str]:
    return [
        str(v.certificate_id),
        v.name,
        v.state + (f" ({v.failures} failed)" if v.failures else ""),
        v.not_after.strftime("%Y-%m-%d"),
        _when(v.next_renewal_at),
        v.next_renewal_reason or "-",
        _when(v.last_attempt_at),
    ]


def _when(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else "-"


@contextlib.contextmanager
def _answering(
    state: CliState, ctx: Context, order: dict[str, Any], as_json: bool
) -> Iterator[Progress]:
    """Answer challenges here unless serve does; yield the progress printer."""

    def say(line: str) -> None:
        if not as_json:
            click.echo(line, err=True)

    http = order.get("http_listen")
    address = settings.load(
        state.data_dir.path, None, http if isinstance(http, str) else None
    ).http
    with answering(ctx, address.host, address.port) as who:
        if who.who == "serve":
            say(f"answering: {who.address} is in use; 'certdesk serve' answers there")
        else:
            say(f"answering: this command answers on {who.address} (no serve found)")
        yield say


def _options(
    directory: directories.Directory, order: dict[str, Any], say: Progress
) -> OrderOptions:
    kid = order.get("eab_kid")
    hmac_file = order.get("eab_hmac_file")
    if (kid is None) != (hmac_file is None):
        raise click.UsageError("give --eab-kid and --eab-hmac-file together")
    eab = None
    if isinstance(kid, str) and isinstance(hmac_file, Path):
        hmac = _read(hmac_file, "eab-hmac-file").decode("ascii", "replace").strip()
        eab = Eab(kid, hmac)
    probe = None
    if not order.get("skip_preflight"):
        table = dict(_resolve_entry(e) for e in order.get("resolve") or ())
        probe = preflight.Preflight(
            port=int(order["challenge_port"]),
            resolver=preflight.fixed_resolver(table),
        )
    email = order.get("email")
    return OrderOptions(
        directory,
        email=email if isinstance(email, str) else None,
        eab=eab,
        polling=Polling(
            interval=float(order["poll_interval"]),
            timeout=float(order["timeout"]),
        ),
        preflight=probe,
        progress=say,
    )


def _resolve_entry(text: str) -> tuple[str, str]:
    name, sep, address = text.partition(":")
    try:
        ip = str(ipaddress.ip_address(address.strip("[]")))
    except ValueError:
        ip = ""
    if not sep or not name or not ip:
        raise InvalidInput(
            "resolve", f"{text!r} is not NAME:IP (a.example.com:192.0.2.7)"
        )
    return name.strip().lower().rstrip("."), ip


def _read(path: Path, field: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput(field, f"cannot read {path}: {exc.strerror}") from None


def _issued(issued: Issued, as_json: bool, verb: str) -> None:
    if as_json:
        output.emit_json(issued.as_json())
        return
    click.echo(
        f"{verb} certificate {issued.certificate_id} ({issued.name}) for "
        f"{', '.join(issued.identifiers)}, valid until "
        f"{issued.not_after:%Y-%m-%d %H:%M} UTC, in {issued.seconds:.2f} s"
    )
    if issued.replaced_certificate_id is not None:
        click.echo(
            f"It replaces certificate {issued.replaced_certificate_id} in service."
        )
    if issued.chain_status == "incomplete":
        output.warn(
            "the CA's chain does not reach a root this appliance knows; import "
            "the CA's root (certdesk cert import ROOT.pem) to complete it"
        )
