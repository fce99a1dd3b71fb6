"""The Let's Encrypt section of Security > Certificates: request, renew, revoke.

The section itself is drawn by the certificates page (`section` gives it its
values); this module answers its forms. Orders run in the request, in a
worker thread, and a refusal comes back next to the names it is about: the
pre-flight's words, or the CA's own.
"""

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from certdesk.errors import CertdeskError, Conflict, InvalidInput, UpstreamFailed
from certdesk.pki.keys import KeyType
from certdesk.services import certificates
from certdesk.services.acme import directories, ordering, revocation
from certdesk.services.acme.ordering import OrderOptions
from certdesk.services.acme.status import list_managed
from certdesk.web.api.acme import WEB_POLLING, order_options
from certdesk.web.auth import Caller, page_admin, page_admin_form
from certdesk.web.errors import problem_for
from certdesk.web.pages import flash
from certdesk.web.pages.flash import Flash
from certdesk.web.pages.forms import PageId, text, texts, uploads
from certdesk.web.pages.templating import render

router = APIRouter(include_in_schema=False)

LIST = "/appliance/certificates"
SECTION = "/appliance/certificates#acme"
BASE = "/appliance/certificates/letsencrypt"

KEY_LABELS = {
    KeyType.P256: "ECDSA P-256",
    KeyType.P384: "ECDSA P-384",
    KeyType.RSA2048: "RSA 2048 bits",
    KeyType.RSA4096: "RSA 4096 bits",
}
DIRECTORY_LABELS = {
    "letsencrypt": "Let's Encrypt",
    "letsencrypt-staging": "Let's Encrypt staging (test certificates, not trusted)",
    "url": "Another ACME CA: the directory URL below",
}
# What each renewal state means to the person reading the table.
STATE_MEANINGS = {
    "valid": "in service; renews by itself",
    "renewal-due": "its renewal time has come; the next attempt renews it",
    "renewing": "a renewal is under way",
    "failing": "the last renewal failed; it will be tried again",
    "error": "not renewed in time: it expires soon or has expired",
    "revoked": "revoked at the CA; no longer served or renewed",
}
REASON_LABELS = {
    revocation.Reason.unspecified: "No reason given",
    revocation.Reason.keyCompromise: "The private key may have leaked",
    revocation.Reason.affiliationChanged: "The names now belong to someone else",
    revocation.Reason.superseded: "Replaced by another certificate",
    revocation.Reason.cessationOfOperation: "The names are no longer in use",
}
# Services name CLI options; the form's fields have their own ids.
FORM_FIELDS = {"ca-bundle": "ca_bundle", "eab-hmac-file": "eab_hmac"}
EMPTY_NAME_ROWS = 2


@dataclass
class RequestForm:
    """What was typed into the request form, kept when it comes back."""

    names: list[str] = field(default_factory=list)
    key_type: str = str(KeyType.P256)
    directory: str = "letsencrypt"
    directory_url: str = ""
    eab_kid: str = ""
    email: str = ""
    challenge_port: str = "80"
    skip_preflight: bool = False

    @classmethod
    def read(cls, form: FormData) -> "RequestForm":
        return cls(
            names=texts(form, "name"),
            key_type=text(form, "key_type") or str(KeyType.P256),
            directory=text(form, "directory") or "letsencrypt",
            directory_url=text(form, "directory_url").strip(),
            eab_kid=text(form, "eab_kid").strip(),
            email=text(form, "email").strip(),
            challenge_port=text(form, "challenge_port").strip() or "80",
            skip_preflight=bool(text(form, "skip_preflight")),
        )

    def name_rows(self, extra: int = 0) -> list[str]:
        rows = [*self.names, *[""] * max(1, EMPTY_NAME_ROWS - len(self.names))]
        return rows + [""] * extra


async def section(caller: Caller) -> dict[str, Any]:
    """The values the certificates page draws the section with."""
    managed = await run_in_threadpool(list_managed, caller.ctx)
    return {
        "managed": managed,
        "acme_form": RequestForm(),
        "acme_rows": RequestForm().name_rows(),
        "acme_errors": {},
        **_choices(),
    }


@router.get(f"{BASE}/request")
async def request_form(
    request: Request, caller: Annotated[Caller, Depends(page_admin)]
) -> Response:
    return _request_page(request, caller, RequestForm())


@router.post(f"{BASE}/request")
async def request_certificate(
    request: Request, caller: Annotated[Caller, Depends(page_admin_form)]
) -> Response:
    """Order now; a refusal re-shows the form with the words next to the field."""
    form = await request.form()
    try:
        entered = RequestForm.read(form)
        bundle = b""
        for upload in uploads(form, "ca_bundle"):
            bundle = await upload.read()
        hmac = text(form, "eab_hmac")
        add_row = "add_name" in form
    finally:
        await form.close()
    if add_row:
        # Without JavaScript, "Add" comes back here for one more empty row.
        return _request_page(request, caller, entered, extra_rows=1, focus=True)

    try:
        options = _options(entered, bundle, hmac)
        key_type = _key_type(entered.key_type)
        issued = await run_in_threadpool(
            lambda: ordering.request_certificate(
                caller.ctx, entered.names, key_type, options
            )
        )
    except InvalidInput as exc:
        error = {FORM_FIELDS.get(exc.field, exc.field): exc.reason}
        return _request_page(request, caller, entered, errors=error, status=422)
    except Conflict as exc:
        # The pre-flight's refusal, or names already managed: about the names.
        error = {"name": problem_for(exc).message}
        return _request_page(request, caller, entered, errors=error, status=409)
    except UpstreamFailed as exc:
        error = {"ca": problem_for(exc).message}
        return _request_page(request, caller, entered, errors=error, status=502)

    notice = (
        f"Issued “{issued.name}” for {', '.join(issued.identifiers)}, valid until "
        f"{issued.not_after:%Y-%m-%d %H:%M} UTC ({issued.seconds:.1f} s). It is "
        "served now and renews by itself."
    )
    return flash.redirect(request, SECTION, Flash(notice, _chain_warning(issued)))


@router.post(BASE + "/{cert_id:int}/renew")
async def renew(
    request: Request,
    cert_id: PageId,
    caller: Annotated[Caller, Depends(page_admin_form)],
) -> Response:
    """Renew now; no pre-flight, since the names passed one when requested."""
    options = OrderOptions(
        directories.choose(None), polling=WEB_POLLING, preflight=None
    )
    try:
        issued = await run_in_threadpool(
            ordering.renew, caller.ctx, str(cert_id), options
        )
    except CertdeskError as exc:
        message = f"Not renewed: {problem_for(exc).message}"
        return flash.redirect(request, SECTION, Flash(errors=[message]))
    notice = (
        f"Renewed “{issued.name}”: the new certificate is served now, valid until "
        f"{issued.not_after:%Y-%m-%d %H:%M} UTC."
    )
    return flash.redirect(request, SECTION, Flash(notice, _chain_warning(issued)))


@router.get(BASE + "/{cert_id:int}/revoke")
async def revoke_form(
    request: Request, cert_id: PageId, caller: Annotated[Caller, Depends(page_admin)]
) -> Response:
    """The step before revoking: what it does, and why (the reason the CA records)."""
    view = await run_in_threadpool(certificates.show, caller.ctx, str(cert_id))
    managed = next(
        (m for m in await run_in_threadpool(list_managed, caller.ctx)
         if m.certificate_id == view.id),
        None,
    )  # fmt: skip
    return render(
        request,
        "acme_revoke.html",
        caller,
        cert=view,
        managed=managed,
        reasons=REASON_LABELS,
    )


@router.post(BASE + "/{cert_id:int}/revoke")
async def revoke(
    request: Request,
    cert_id: PageId,
    caller: Annotated[Caller, Depends(page_admin_form)],
) -> Response:
    form = await request.form()
    try:
        reason = revocation.Reason[text(form, "reason") or "unspecified"]
    except KeyError:
        reason = revocation.Reason.unspecified
    try:
        done = await run_in_threadpool(
            lambda: revocation.revoke(
                caller.ctx, str(cert_id), reason, polling=WEB_POLLING
            )
        )
    except CertdeskError as exc:
        message = f"Not revoked: {problem_for(exc).message}"
        return flash.redirect(request, SECTION, Flash(errors=[message]))
    notice = (
        f"Revoked “{done.name}” (serial {done.serial}, reason {done.reason}). It is "
        "no longer served; delete it under Other certificates when you no longer "
        "need the record."
    )
    return flash.redirect(request, SECTION, Flash(notice))


def _request_page(
    request: Request,
    caller: Caller,
    entered: RequestForm,
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
    extra_rows: int = 0,
    focus: bool = False,
) -> Response:
    rows = entered.name_rows(extra_rows)
    return render(
        request,
        "acme_request.html",
        caller,
        status=status,
        acme_form=entered,
        acme_rows=rows,
        acme_errors=errors or {},
        focus_row=len(rows) - 1 if focus else None,
        **_choices(),
    )


def _choices() -> dict[str, Any]:
    return {
        "acme_keys": KEY_LABELS,
        "acme_directories": DIRECTORY_LABELS,
        "state_meanings": STATE_MEANINGS,
    }


def _options(entered: RequestForm, bundle: bytes, hmac: str) -> OrderOptions:
    if entered.directory == "url":
        if not entered.directory_url:
            raise InvalidInput("directory_url", "give the CA's ACME directory URL")
        directory: str | None = entered.directory_url
    elif entered.directory in directories.PRESETS:
        directory = entered.directory
    else:
        raise InvalidInput("directory", "choose one of the listed CAs")
    port = entered.challenge_port
    if not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        raise InvalidInput("challenge_port", "give a port number, 1 to 65535")
    try:
        return order_options(
            directory=directory,
            ca_bundle=bundle or None,
            eab_kid=entered.eab_kid,
            eab_hmac=hmac,
            email=entered.email,
            challenge_port=int(port),
            skip_preflight=entered.skip_preflight,
        )
    except InvalidInput as exc:
        if exc.field == "directory" and entered.directory == "url":
            raise InvalidInput("directory_url", exc.reason) from None
        raise


def _key_type(value: str) -> KeyType:
    try:
        chosen = KeyType(value)
    except ValueError:
        chosen = None
    if chosen not in KEY_LABELS:
        raise InvalidInput("key_type", "choose one of the listed key types")
    return KeyType(value)


def _chain_warning(issued: ordering.Issued) -> list[str]:
    if issued.chain_status != "incomplete":
        return []
    return [
        "The CA's chain does not reach a root this appliance knows: import the "
        "CA's root certificate (Import) so clients get a complete chain."
    ]
