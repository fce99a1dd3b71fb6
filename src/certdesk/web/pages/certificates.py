"""Security > Certificates: the list, Create, Import, a certificate's page,
Set default, Export and Delete, laid out as the guide's procedures walk them.

Every step calls a service; the pages only read the form, show the result,
and put the service's message next to the field it names.
"""

import re
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from certdesk.errors import (
    CertdeskError,
    Forbidden,
    InvalidInput,
    LoginRefused,
    NotFound,
    RejectedFile,
)
from certdesk.pki.encode import MIN_PASSPHRASE, ExportFormat
from certdesk.pki.issuing import MAX_SELF_SIGNED_DAYS
from certdesk.pki.keys import KeyType
from certdesk.pki.names import check_subject
from certdesk.services import accounts, certificates, importing, requests
from certdesk.services.views import CertificateView
from certdesk.web import downloads
from certdesk.web.auth import (
    Caller,
    page_admin,
    page_admin_form,
    page_form,
    page_reader,
)
from certdesk.web.downloads import EXPORT_FORMATS
from certdesk.web.errors import problem_for
from certdesk.web.pages import acme, flash
from certdesk.web.pages.flash import Flash
from certdesk.web.pages.forms import PageId, object_id, text, texts, uploads
from certdesk.web.pages.templating import render

router = APIRouter(include_in_schema=False)

LIST = "/appliance/certificates"

KEY_LABELS = {
    KeyType.RSA2048: "RSA 2048 bits",
    KeyType.RSA3072: "RSA 3072 bits",
    KeyType.RSA4096: "RSA 4096 bits",
    KeyType.P256: "ECDSA P-256",
    KeyType.P384: "ECDSA P-384",
}


OUTCOMES = {
    "created": "added",
    "already-present": "already on the appliance",
    "key-attached": "private key attached",
    "ignored": "ignored",
}

# The subject fields of the Create form, in the guide's order (step 5).
SUBJECT_FIELDS = ("cn", "org", "ou", "city", "state", "country")
EMPTY_SAN_ROWS = 3


def servable(view: CertificateView) -> bool:
    """What the Default radio offers: a leaf whose key the appliance holds."""
    return view.has_key and not view.facts.is_ca


# ---------------------------------------------------------------- the list


@router.get(LIST)
async def certificates_page(
    request: Request, caller: Annotated[Caller, Depends(page_reader)]
) -> Response:
    views = await run_in_threadpool(certificates.list_certificates, caller.ctx)
    pending = await run_in_threadpool(requests.list_requests, caller.ctx)
    names = {v.id: v.name for v in views}
    default_id = next((v.id for v in views if v.is_default), None)
    letsencrypt = await acme.section(caller)
    return flash.render_page(
        request,
        "certificates.html",
        caller,
        certificates=views,
        requests=pending,
        names=names,
        default_id=default_id,
        servable=servable,
        **letsencrypt,
    )


@router.post(f"{LIST}/default")
async def set_default(
    request: Request, caller: Annotated[Caller, Depends(page_admin_form)]
) -> Response:
    form = await request.form()
    chosen = text(form, "default")
    back = _back(form)
    if not chosen:
        return flash.redirect(
            request, back, Flash(errors=["Choose a certificate in the Default column."])
        )
    if chosen == text(form, "current"):
        # The radio was left where it was: nothing to change or record.
        notice = "That certificate is already the default; nothing changed."
        return flash.redirect(request, back, Flash(notice))

    try:
        chosen_id = str(_number(chosen))
        done = await run_in_threadpool(certificates.set_default, caller.ctx, chosen_id)
    except CertdeskError as exc:
        return flash.redirect(request, back, Flash(errors=[problem_for(exc).message]))
    notice = f"“{done.view.name}” is now the default certificate."
    return flash.redirect(request, back, Flash(notice, list(done.warnings)))


@router.post(f"{LIST}/action")
async def apply_action(
    request: Request, caller: Annotated[Caller, Depends(page_form)]
) -> Response:
    """The Select Action menu above Other Certificates: Export or Delete."""
    form = await request.form()
    action = text(form, "action")
    chosen = texts(form, "selected")
    if not chosen:
        message = "Select a certificate with its check box first, then Apply."
        return flash.redirect(request, LIST, Flash(errors=[message]))

    if action == "export":
        if len(chosen) > 1:
            message = "Export one certificate at a time: select only one."
            return flash.redirect(request, LIST, Flash(errors=[message]))
        return RedirectResponse(f"{LIST}/{_number(chosen[0])}/export", 303)

    if action == "delete":
        if not caller.principal.is_admin:
            who = caller.principal.username
            raise Forbidden(f"{who} is an auditor; deleting needs an admin")
        return await _confirm_delete(request, caller, chosen)

    message = "Choose Export or Delete in Select Action, then Apply."
    return flash.redirect(request, LIST, Flash(errors=[message]))


# ------------------------------------------------------------ create


@dataclass
class CreateForm:
    """What was typed into the Create form, kept when it comes back."""

    name: str = ""
    key_type: str = str(KeyType.RSA2048)
    subject: dict[str, str] = field(default_factory=dict)
    sans: list[str] = field(default_factory=list)
    kind: str = "self-signed"
    days: str = str(certificates.DEFAULT_DAYS)

    @classmethod
    def read(cls, form: FormData) -> "CreateForm":
        return cls(
            name=text(form, "name"),
            key_type=text(form, "key_type") or str(KeyType.RSA2048),
            subject={f: text(form, f) for f in SUBJECT_FIELDS},
            sans=texts(form, "san"),
            kind=text(form, "kind") or "self-signed",
            days=text(form, "days").strip(),
        )

    def san_rows(self, extra: int = 0) -> list[str]:
        rows = [*self.sans, *[""] * max(1, EMPTY_SAN_ROWS - len(self.sans))]
        return rows + [""] * extra


@router.get(f"{LIST}/create")
async def create_form(
    request: Request, caller: Annotated[Caller, Depends(page_admin)]
) -> Response:
    return _create_page(request, caller, CreateForm())


@router.post(f"{LIST}/create")
async def create(
    request: Request, caller: Annotated[Caller, Depends(page_admin_form)]
) -> Response:
    form = await request.form()
    entered = CreateForm.read(form)
    if "add_san" in form:
        # Without JavaScript, "Add" comes back here for one more empty row.
        return _create_page(request, caller, entered, extra_rows=1, focus_san=True)

    try:
        certificates.check_friendly_name(entered.name)
        key_type = _key_type(entered.key_type)
        subject = check_subject(
            common_name=entered.subject["cn"],
            country=entered.subject["country"],
            state=entered.subject["state"],
            city=entered.subject["city"],
            org=entered.subject["org"],
            ou=entered.subject["ou"],
            sans=entered.sans,
        )
        if entered.kind == "request":
            made = await run_in_threadpool(
                lambda: requests.create_request(
                    caller.ctx, name=entered.name, key_type=key_type, subject=subject
                )
            )
            notice = (
                f"Created the request “{made.view.name}”. Copy its Request Data "
                "below and send it to your certificate authority."
            )
            target = f"/appliance/requests/{made.view.id}"
            return flash.redirect(request, target, Flash(notice, list(made.warnings)))

        days = _days(entered.days)
        created = await run_in_threadpool(
            lambda: certificates.create_self_signed(
                caller.ctx,
                name=entered.name,
                key_type=key_type,
                subject=subject,
                days=days,
            )
        )
    except InvalidInput as exc:
        return _create_page(request, caller, entered, error=exc, status=422)
    notice = f"Created the self-signed certificate “{created.view.name}”."
    target = f"{LIST}/{created.view.id}"
    return flash.redirect(request, target, Flash(notice, list(created.warnings)))


def _create_page(
    request: Request,
    caller: Caller,
    entered: CreateForm,
    *,
    error: InvalidInput | None = None,
    status: int = 200,
    extra_rows: int = 0,
    focus_san: bool = False,
) -> Response:
    errors = {error.field: error.reason} if error else {}
    rows = entered.san_rows(extra_rows)
    san_error_row = _san_at_fault(rows, error) if error else None
    return render(
        request,
        "create.html",
        caller,
        status=status,
        form=entered,
        rows=rows,
        errors=errors,
        san_error_row=san_error_row,
        focus_row=len(rows) - 1 if focus_san else None,
        key_labels=KEY_LABELS,
        max_days=MAX_SELF_SIGNED_DAYS,
    )


def _san_at_fault(rows: list[str], error: InvalidInput) -> int | None:
    """The SAN row whose value the message quotes, so it can be marked."""
    if error.field != "san":
        return None
    for number, value in enumerate(rows):
        if value.strip() and repr(value.strip()) in error.reason:
            return number
    return 0


def _key_type(value: str) -> KeyType:
    try:
        return KeyType(value)
    except ValueError:
        raise InvalidInput("key_type", "choose one of the listed key types") from None


def _days(value: str) -> int:
    if not value.isdigit():
        raise InvalidInput(
            "days", f"give a whole number of days, 1 to {MAX_SELF_SIGNED_DAYS}"
        )
    return int(value)


# ------------------------------------------------------------ import


@router.get(f"{LIST}/import")
async def import_form(
    request: Request, caller: Annotated[Caller, Depends(page_admin)]
) -> Response:
    return _import_page(request, caller, {})


@router.post(f"{LIST}/import")
async def import_upload(
    request: Request, caller: Annotated[Caller, Depends(page_admin_form)]
) -> Response:
    form = await request.form()
    try:
        files = [
            importing.ImportFile(upload.filename or "upload", await upload.read())
            for upload in uploads(form, "files")
        ]
        passphrase = text(form, "passphrase").encode() or None
    finally:
        # Uploads are spooled to temporary files; nothing else closes them.
        await form.close()
    if not files:
        errors = {"files": "choose at least one file to upload"}
        return _import_page(request, caller, errors, status=422)

    try:
        result = await run_in_threadpool(
            importing.import_files, caller.ctx, files, passphrase
        )
    except RejectedFile as exc:
        return _import_page(request, caller, {"files": str(exc)}, status=422)
    except InvalidInput as exc:
        return _import_page(request, caller, {exc.field: exc.reason}, status=422)

    views = {
        v.id: v
        for v in await run_in_threadpool(certificates.list_certificates, caller.ctx)
    }
    return flash.redirect(request, LIST, _import_report(result, views, len(files)))


def _import_page(
    request: Request, caller: Caller, errors: dict[str, str], *, status: int = 200
) -> Response:
    config = request.app.state.config
    return render(
        request,
        "import.html",
        caller,
        status=status,
        errors=errors,
        max_mib=config.max_upload_bytes / (1024 * 1024),
    )


def _import_report(
    result: importing.ImportResult, views: dict[int, CertificateView], files: int
) -> Flash:
    rows = []
    for item in result.items:
        view = views.get(item.id) if item.id is not None else None
        rows.append(
            {
                "outcome": OUTCOMES.get(item.outcome, item.outcome),
                "kind": item.role or item.kind,
                "file": item.file,
                "id": item.id if view else None,
                "name": item.name or "",
                "chain": _chain_state(view) if view else "",
                "detail": item.detail or "",
            }
        )
    added = sum(1 for i in result.items if i.outcome == "created")
    notice = f"Imported {files} file{'' if files == 1 else 's'}: {added} added."
    if result.fulfilled_requests:
        notice += f" {len(result.fulfilled_requests)} certificate request(s) fulfilled."
    if result.repaired_chains:
        notice += f" {len(result.repaired_chains)} stored chain(s) completed."
    return Flash(notice, rows=rows)


def _chain_state(view: CertificateView) -> str:
    if view.chain_missing:
        return f"incomplete: missing {view.chain_missing}"
    return view.chain_status.replace("-", " ")


# ------------------------------------------------------- one certificate


@router.get(LIST + "/{cert_id:int}")
async def certificate_page(
    request: Request, cert_id: PageId, caller: Annotated[Caller, Depends(page_reader)]
) -> Response:
    view = await run_in_threadpool(certificates.show, caller.ctx, str(cert_id))
    requests_for = [
        r
        for r in await run_in_threadpool(requests.list_requests, caller.ctx)
        if r.certificate_id == view.id
    ]
    return flash.render_page(
        request,
        "certificate.html",
        caller,
        cert=view,
        servable=servable(view),
        requests_for=requests_for,
    )


@router.get(LIST + "/{cert_id:int}/delete")
async def delete_one(
    request: Request, cert_id: PageId, caller: Annotated[Caller, Depends(page_admin)]
) -> Response:
    return await _confirm_delete(request, caller, [str(cert_id)])


async def _confirm_delete(
    request: Request, caller: Caller, chosen: list[str]
) -> Response:
    """The step between choosing Delete and deleting: what goes, what cannot."""
    views = await run_in_threadpool(certificates.list_certificates, caller.ctx)
    by_id = {v.id: v for v in views}
    wanted = [by_id[n] for n in (_number(c) for c in chosen) if n in by_id]
    if not wanted:
        raise NotFound("certificate", ", ".join(chosen))
    users = {
        v.id: [u for u in views if any(c.id == v.id for c in u.chain)] for v in wanted
    }
    return render(request, "delete.html", caller, wanted=wanted, users=users)


@router.post(f"{LIST}/delete")
async def delete(
    request: Request, caller: Annotated[Caller, Depends(page_admin_form)]
) -> Response:
    form = await request.form()
    chosen = [_number(c) for c in texts(form, "id")]
    views = {
        v.id: v
        for v in await run_in_threadpool(certificates.list_certificates, caller.ctx)
    }
    # Leaves first: deleting one removes issuers nothing else uses, and an
    # issuer cannot go while a chosen leaf still depends on it.
    order = sorted(
        (n for n in chosen if n in views),
        key=lambda n: (views[n].facts.is_ca, views[n].facts.self_issued),
    )
    deleted: list[str] = []
    errors: list[str] = []
    gone: set[int] = set()
    for number in order:
        if number in gone:
            continue
        try:
            done = await run_in_threadpool(certificates.delete, caller.ctx, str(number))
        except CertdeskError as exc:
            errors.append(problem_for(exc).message)
            continue
        deleted.append(f"“{done.name}”")
        gone.update(done.removed_issuers)
        deleted += [
            f"issuer “{views[i].name}”" for i in done.removed_issuers if i in views
        ]
    notice = f"Deleted {', '.join(deleted)}." if deleted else ""
    return flash.redirect(request, LIST, Flash(notice, errors=errors))


# ------------------------------------------------------------ export


@dataclass
class ExportForm:
    fmt: str = str(ExportFormat.PEM)
    with_chain: bool = True
    with_key: bool = False

    @classmethod
    def read(cls, form: FormData) -> "ExportForm":
        return cls(
            fmt=text(form, "format"),
            with_chain=bool(text(form, "chain")),
            with_key=bool(text(form, "key")),
        )


@router.get(LIST + "/{cert_id:int}/export")
async def export_form(
    request: Request, cert_id: PageId, caller: Annotated[Caller, Depends(page_reader)]
) -> Response:
    view = await run_in_threadpool(certificates.show, caller.ctx, str(cert_id))
    return _export_page(request, caller, view, ExportForm(), {})


@router.post(LIST + "/{cert_id:int}/export")
async def export(
    request: Request, cert_id: PageId, caller: Annotated[Caller, Depends(page_form)]
) -> Response:
    """The download itself; a private key needs a passphrase and the admin's
    own password, so a walked-away-from session cannot take keys away."""
    form = await request.form()
    chosen = ExportForm.read(form)
    view = await run_in_threadpool(certificates.show, caller.ctx, str(cert_id))
    if chosen.with_key and not caller.principal.is_admin:
        raise Forbidden(
            f"{caller.principal.username} is an auditor; auditors export "
            "certificates without their private key"
        )

    passphrase = text(form, "passphrase")
    try:
        fmt = _export_format(chosen.fmt)
        if chosen.with_key:
            _check_passphrase(passphrase, text(form, "repeat"))
            username = caller.principal.username
            await run_in_threadpool(
                lambda: accounts.confirm_password(
                    caller.ctx,
                    username,
                    text(form, "password"),
                    client=accounts.session_client(username),
                )
            )
        exported = await run_in_threadpool(
            lambda: certificates.export(
                caller.ctx,
                str(cert_id),
                fmt=fmt,
                with_chain=chosen.with_chain,
                with_key=chosen.with_key,
                passphrase=passphrase.encode() if chosen.with_key else None,
            )
        )
    except InvalidInput as exc:
        errors = {exc.field: exc.reason}
        return _export_page(request, caller, view, chosen, errors, status=422)
    except LoginRefused as exc:
        problem = problem_for(exc)
        errors = {"password": problem.message}
        response = _export_page(request, caller, view, chosen, errors, status=422)
        response.headers.update(problem.headers())
        return response

    return downloads.attachment(exported.data, EXPORT_FORMATS[fmt], view.name, view.id)


def _export_page(
    request: Request,
    caller: Caller,
    view: CertificateView,
    chosen: ExportForm,
    errors: dict[str, str],
    *,
    status: int = 200,
) -> Response:
    return render(
        request,
        "export.html",
        caller,
        status=status,
        cert=view,
        form=chosen,
        errors=errors,
        formats=EXPORT_FORMATS,
        key_allowed=caller.principal.is_admin and view.has_key,
        min_passphrase=MIN_PASSPHRASE,
    )


def _export_format(value: str) -> ExportFormat:
    try:
        return ExportFormat(value)
    except ValueError:
        raise InvalidInput("format", "choose one of the listed formats") from None


def _check_passphrase(passphrase: str, repeat: str) -> None:
    """The page's own checks, before the password costs a sign-in attempt."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise InvalidInput(
            "passphrase",
            f"a private key leaves only under a passphrase of at least "
            f"{MIN_PASSPHRASE} characters",
        )
    if passphrase != repeat:
        raise InvalidInput("repeat", "the two passphrases differ")


# ------------------------------------------------------------ helpers


def _number(value: str) -> int:
    """An id from a form: check boxes and radios carry ids, nothing else."""
    number = object_id(value)
    if number is None:
        raise InvalidInput("selected", f"{value!r} is not a certificate id")
    return number


def _back(form: FormData) -> str:
    """Where a Set default came from: the list, or a certificate's page."""
    back = text(form, "back")
    if re.fullmatch(r"/appliance/certificates(/\d+)?", back):
        return back
    return LIST
