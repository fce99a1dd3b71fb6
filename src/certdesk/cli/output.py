"""Human output for the terminal, kept apart from the operational log.

Tables for lists, aligned fields for one object, and JSON for scripts. Human
text goes to stdout; problems go to stderr.
"""

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import click

from certdesk.services.views import CertificateView, RequestView


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    if not rows:
        click.echo("(none)")
        return
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    click.echo(line.rstrip())
    for row in rows:
        click.echo(
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        )


def fields(pairs: Sequence[tuple[str, str]]) -> None:
    width = max(len(k) for k, _ in pairs)
    for key, value in pairs:
        click.echo(f"{key.ljust(width)}  {value}")


def when(moment: dt.datetime) -> str:
    """A time in tables: to the minute, in UTC as stored."""
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)


def created(
    data: dict[str, Any], warnings: Sequence[str], *, as_json: bool, message: str
) -> None:
    """What a create command answers: the object, and what its input warned of."""
    if as_json:
        emit_json({**data, "input_warnings": list(warnings)})
        return
    for text in warnings:
        warn(text)
    click.echo(message)


def certificate_rows(views: Sequence[CertificateView]) -> None:
    rows = []
    for v in views:
        rows.append(
            [
                str(v.id),
                ("* " if v.is_default else "  ") + v.name,
                str(v.facts.role),
                v.facts.not_after.strftime("%Y-%m-%d"),
                str(v.days_left),
                "yes" if v.has_key else "no",
                v.chain_status,
                ",".join(w.code for w in v.warnings) or "-",
            ]
        )
    table(["ID", "  NAME", "ROLE", "EXPIRES", "DAYS", "KEY", "CHAIN", "WARNINGS"], rows)
    if any(v.is_default for v in views):
        click.echo("\n* default certificate")


def certificate_detail(v: CertificateView) -> None:
    f = v.facts
    pairs = [
        ("ID", str(v.id)),
        ("Name", v.name + ("  (default)" if v.is_default else "")),
        ("Role", str(f.role)),
        ("Issued to", f.subject),
        ("Issued by", f.issuer),
        ("SANs", ", ".join(f.sans) or "-"),
        ("Valid from", f.not_before.strftime("%Y-%m-%d %H:%M:%S UTC")),
        ("Valid until", f.not_after.strftime("%Y-%m-%d %H:%M:%S UTC")),
        ("Days left", str(v.days_left)),
        ("Key", str(f.key)),
        ("Private key", "held by this appliance" if v.has_key else "not held"),
        ("Signature", f.signature_algorithm),
        ("Serial", f.serial),
        ("SHA-256", _colons(f.fingerprint_sha256)),
        ("SHA-1", _colons(f.fingerprint_sha1)),
        ("Source", v.source),
        (
            "Chain",
            v.chain_status
            + (f" (missing {v.chain_missing})" if v.chain_missing else ""),
        ),
    ]
    fields(pairs)
    for position, entry in enumerate(v.chain, start=1):
        click.echo(f"  {position}. [{entry.role}] {entry.subject}  (id {entry.id})")
    for note in v.chain_notes:
        click.echo(f"  note: {note}")
    if v.warnings:
        click.echo("Warnings:")
        for w in v.warnings:
            click.echo(f"  - {w.message}")


def request_rows(views: Sequence[RequestView]) -> None:
    table(
        ["ID", "NAME", "STATUS", "KEY", "SUBJECT", "SANS"],
        [
            [
                str(v.id),
                v.name,
                v.status,
                v.key,
                v.subject,
                ",".join(v.sans) or "-",
            ]
            for v in views
        ],
    )


def request_detail(v: RequestView) -> None:
    fields(
        [
            ("ID", str(v.id)),
            ("Name", v.name),
            (
                "Status",
                v.status
                + (f" (certificate {v.certificate_id})" if v.certificate_id else ""),
            ),
            ("Subject", v.subject),
            ("SANs", ", ".join(v.sans) or "-"),
            ("Key", v.key),
            ("Created", v.created_at.strftime("%Y-%m-%d %H:%M:%S UTC")),
        ]
    )
    click.echo("\nRequest data (paste into your CA):\n")
    click.echo(v.pem.rstrip())


def _colons(hexdigest: str) -> str:
    return ":".join(hexdigest[i : i + 2] for i in range(0, len(hexdigest), 2)).upper()
