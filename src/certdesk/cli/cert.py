"""`certdesk cert`: certificates."""

import os
import sys
from pathlib import Path
from typing import Any

import click

from certdesk.cli import output
from certdesk.cli.options import (
    passphrase_option,
    prompt_passphrase,
    read_passphrase,
    subject_from,
    subject_options,
)
from certdesk.cli.state import CliState, json_option, pass_state
from certdesk.errors import InvalidInput, RejectedFile, WrongPassphrase
from certdesk.pki.encode import ExportFormat
from certdesk.pki.issuing import MAX_SELF_SIGNED_DAYS
from certdesk.pki.keys import KeyType
from certdesk.services import certificates, serving
from certdesk.services.importing import ImportFile, import_files


@click.group()
def cert() -> None:
    """Certificates: create, import, inspect, export, choose the default."""


@cert.command("self-signed")
@subject_options
@click.option(
    "--days",
    type=click.IntRange(1, MAX_SELF_SIGNED_DAYS),
    default=certificates.DEFAULT_DAYS,
    show_default=True,
    help="Validity in days.",
)
@json_option
@pass_state
def self_signed(state: CliState, /, as_json: bool, days: int, **params: Any) -> None:
    """Create a key and a self-signed certificate (for testing or a first start)."""
    subject = subject_from(params)
    with state.context() as ctx:
        created = certificates.create_self_signed(
            ctx,
            name=params["name"],
            key_type=KeyType(params["key_type"]),
            subject=subject,
            days=days,
        )
    view = created.view
    output.created(
        view.as_json(),
        created.warnings,
        as_json=as_json,
        message=f"Created self-signed certificate {view.id} ({view.name})",
    )


@cert.command("list")
@click.option(
    "--role",
    "roles",
    multiple=True,
    type=click.Choice(["server", "intermediate", "root"]),
    help="Only certificates of this role (repeatable).",
)
@json_option
@pass_state
def list_(state: CliState, /, as_json: bool, roles: tuple[str, ...]) -> None:
    """List stored certificates with their expiry, chain and warnings."""
    with state.context() as ctx:
        views = certificates.list_certificates(ctx, roles)
    if as_json:
        output.emit_json([v.as_json() for v in views])
    else:
        output.certificate_rows(views)


@cert.command()
@click.argument("ref")
@json_option
@pass_state
def show(state: CliState, /, as_json: bool, ref: str) -> None:
    """Show one certificate: names, validity, key, fingerprints, chain, warnings.

    REF is an id, a SHA-256 fingerprint, or a friendly name used only once.
    """
    with state.context() as ctx:
        view = certificates.show(ctx, ref)
    if as_json:
        output.emit_json(view.as_json())
    else:
        output.certificate_detail(view)


@cert.command("import")
@click.argument(
    "files",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@passphrase_option
@json_option
@pass_state
def import_(
    state: CliState,
    as_json: bool,
    files: tuple[Path, ...],
    passphrase_file: Path | None,
) -> None:
    """Import certificates, chains and keys: DER, PEM, PKCS#7, PKCS#12, keys.

    Files are recognised by content, in any order. A certificate for a pending
    request's key is linked to it; the chain is ordered and checked. One bad
    file rejects the whole batch, so nothing is half-imported.
    """
    batch = [ImportFile(str(p), _read(p)) for p in files]
    passphrase = read_passphrase(passphrase_file)
    with state.context() as ctx:
        try:
            result = import_files(ctx, batch, passphrase)
        except WrongPassphrase:
            if passphrase is not None:
                raise
            asked = prompt_passphrase("Passphrase", confirm=False)
            if asked is None:
                raise
            result = import_files(ctx, batch, asked)
    if as_json:
        output.emit_json(result.as_json())
        return
    for item in result.items:
        what = item.name or item.kind
        ident = f"{item.id} " if item.id is not None else ""
        role = f" [{item.role}]" if item.role else ""
        detail = f": {item.detail}" if item.detail else ""
        click.echo(f"{item.outcome:15} {ident}{what}{role} from {item.file}{detail}")
    for request_id in result.fulfilled_requests:
        click.echo(f"request {request_id} is fulfilled; its key is linked")
    for cert_id in result.repaired_chains:
        click.echo(f"certificate {cert_id}: chain updated")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise RejectedFile(str(path), f"cannot be read: {exc.strerror}") from exc


@cert.command()
@click.argument("ref")
@click.option(
    "--format",
    "fmt",
    type=click.Choice([f.value for f in ExportFormat]),
    default="pem",
    show_default=True,
    help="pem, der (one certificate), p7b (certificates), p12 (with key).",
)
@click.option("--chain", "with_chain", is_flag=True, help="Include the chain.")
@click.option("--key", "with_key", is_flag=True, help="Include the private key.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    required=True,
    help="File to write, or - for standard output.",
)
@passphrase_option
@json_option
@pass_state
def export(
    state: CliState,
    as_json: bool,
    ref: str,
    fmt: str,
    with_chain: bool,
    with_key: bool,
    out: Path,
    passphrase_file: Path | None,
) -> None:
    """Export a certificate, optionally with its chain and private key.

    A private key is only written encrypted under a passphrase (PKCS#12 with
    AES-256 or encrypted PKCS#8 PEM), and every export is an audit event.
    Exporting never removes anything.
    """
    passphrase = read_passphrase(passphrase_file)
    if with_key and passphrase is None:
        passphrase = prompt_passphrase("Export passphrase", confirm=True)
        if passphrase is None:
            raise InvalidInput(
                "passphrase",
                "an export with the private key needs --passphrase-file FILE (or - "
                "for standard input)",
            )
    with state.context() as ctx:
        exported = certificates.export(
            ctx,
            ref,
            fmt=ExportFormat(fmt),
            with_chain=with_chain,
            with_key=with_key,
            passphrase=passphrase,
        )
    _write(out, exported.data, secret=with_key)
    if as_json:
        output.emit_json(
            {
                "id": exported.view.id,
                "name": exported.view.name,
                "format": fmt,
                "chain": with_chain,
                "private_key": with_key,
                "out": str(out),
                "bytes": len(exported.data),
            }
        )
    elif str(out) != "-":
        click.echo(f"Wrote {out} ({len(exported.data)} bytes)")


def _write(out: Path, data: bytes, *, secret: bool) -> None:
    if str(out) == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    # A file holding a key, even encrypted, is made readable by its owner only.
    mode = 0o600 if secret else 0o644
    tmp = out.with_name(out.name + ".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, out)
    except OSError as exc:
        raise InvalidInput("out", f"cannot write {out}: {exc.strerror}") from exc


@cert.command()
@click.argument("ref")
@json_option
@pass_state
def default(state: CliState, /, as_json: bool, ref: str) -> None:
    """Make REF the default: served without SNI or when no name matches."""
    with state.context() as ctx:
        changed = certificates.set_default(ctx, ref)
    view = changed.view
    if as_json:
        output.emit_json({**view.as_json(), "change_warnings": list(changed.warnings)})
        return
    for message in changed.warnings:
        output.warn(message)
    click.echo(f"Certificate {view.id} ({view.name}) is now the default")


@cert.command()
@click.argument("ref")
@click.option(
    "--keep-chain",
    is_flag=True,
    help="Keep issuers that no other certificate uses.",
)
@json_option
@pass_state
def delete(state: CliState, /, as_json: bool, ref: str, keep_chain: bool) -> None:
    """Delete a certificate (never the default, nor an issuer still in use)."""
    with state.context() as ctx:
        deleted = certificates.delete(ctx, ref, keep_chain=keep_chain)
    if as_json:
        output.emit_json(
            {
                "id": deleted.id,
                "name": deleted.name,
                "removed_issuers": list(deleted.removed_issuers),
                "removed_key": deleted.removed_key,
            }
        )
        return
    click.echo(f"Deleted certificate {deleted.id} ({deleted.name})")
    if deleted.removed_issuers:
        listed = ", ".join(str(i) for i in deleted.removed_issuers)
        click.echo(f"Also removed issuers no other certificate uses: {listed}")


@cert.command()
@click.argument("server_name", required=False)
@json_option
@pass_state
def which(state: CliState, /, as_json: bool, server_name: str | None) -> None:
    """Which certificate a client asking for SERVER_NAME gets, and why.

    Without SERVER_NAME: what a client that sends no SNI gets. This is the
    decision the TLS front end makes for each handshake: an exact SAN match,
    else a wildcard covering the leftmost label, else the default.
    """
    with state.context() as ctx:
        answer = serving.which(ctx, server_name)
    if as_json:
        output.emit_json(answer.as_json())
        return
    chosen = answer.choice.certificate
    asked = server_name or "(no SNI)"
    if chosen is None:
        click.echo(f"{asked}: nothing to serve (no default certificate with a key)")
        return
    why = {
        "exact": "exact SAN match",
        "wildcard": "wildcard SAN covering the leftmost label",
        "default": "no SAN matches; the default certificate",
    }[str(answer.choice.reason)]
    click.echo(f"{asked}: certificate {chosen.id} ({chosen.name}): {why}")
    for other in answer.choice.passed_over:
        click.echo(f"  passed over {other.id} ({other.name}): {answer.because(other)}")
