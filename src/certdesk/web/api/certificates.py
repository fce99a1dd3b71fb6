"""Certificates: list, inspect, create self-signed, import, default, delete, export.

Each route parses its input, calls one service and shapes the answer; the
bodies are the CLI's `--json` forms. Imports read the multipart body only
once the token is known, so a stranger cannot make the server parse uploads.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from certdesk.errors import Forbidden, InvalidInput
from certdesk.pki.names import SubjectSpec, check_subject
from certdesk.services import certificates
from certdesk.services.importing import ImportFile, import_files
from certdesk.web.api.common import (
    Admin,
    Id,
    Reader,
    errors,
)
from certdesk.web.api.models import (
    CertificateOut,
    CertificateRole,
    CreatedCertificateOut,
    DefaultSetOut,
    DeletedCertificateOut,
    ExportIn,
    ImportOut,
    SelfSignedIn,
    SubjectIn,
)
from certdesk.web.downloads import EXPORT_FORMATS, attachment

router = APIRouter(tags=["certificates"])


# One upload may hold many files, but not without bound: a chain is a few.
MAX_IMPORT_FILES = 100

_BINARY = {"schema": {"type": "string", "format": "binary"}}

_IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["files"],
                    "properties": {
                        "files": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "minItems": 1,
                            "maxItems": MAX_IMPORT_FILES,
                            "description": "Certificates, chains and keys in any "
                            "format (DER, PEM, PKCS#7, PKCS#12), in any order.",
                        },
                        "passphrase": {
                            "type": "string",
                            "format": "password",
                            "description": "Opens PKCS#12 files and encrypted keys.",
                        },
                    },
                }
            }
        },
    }
}


def subject_of(body: SubjectIn) -> SubjectSpec:
    """The subject fields checked as the CLI checks them (InvalidInput names one)."""
    return check_subject(
        common_name=body.cn,
        country=body.country,
        state=body.state,
        city=body.city,
        org=body.org,
        ou=body.ou,
        sans=body.sans,
    )


@router.get(
    "/certificates",
    response_model=list[CertificateOut],
    summary="List certificates",
    responses=errors(422),
)
async def list_certificates(
    caller: Reader,
    role: Annotated[
        list[CertificateRole] | None,
        Query(description="Only certificates of these roles (repeatable)."),
    ] = None,
) -> list[dict[str, Any]]:
    """Every stored certificate, leaves and issuers, with chain and warnings."""
    views = await run_in_threadpool(
        certificates.list_certificates, caller.ctx, tuple(role or ())
    )
    return [v.as_json() for v in views]


@router.get(
    "/certificates/{id}",
    response_model=CertificateOut,
    summary="Show a certificate",
    responses=errors(404, 422),
)
async def show_certificate(id: Id, caller: Reader) -> dict[str, Any]:
    """Names, validity, key, signature, fingerprints, chain with roles, warnings."""
    view = await run_in_threadpool(certificates.show, caller.ctx, str(id))
    return view.as_json()


@router.post(
    "/certificates/self-signed",
    response_model=CreatedCertificateOut,
    status_code=201,
    summary="Create a self-signed certificate",
    responses=errors(400, 403, 413, 422),
)
async def create_self_signed(body: SelfSignedIn, caller: Admin) -> dict[str, Any]:
    """A new key and a self-signed certificate, checked the way a CA checks input."""
    subject = subject_of(body)
    created = await run_in_threadpool(
        lambda: certificates.create_self_signed(
            caller.ctx,
            name=body.name,
            key_type=body.key,
            subject=subject,
            days=body.days,
        )
    )
    return {**created.view.as_json(), "input_warnings": list(created.warnings)}


@router.post(
    "/certificates/import",
    response_model=ImportOut,
    summary="Import certificates, chains and keys",
    responses=errors(400, 403, 413, 422),
    openapi_extra=_IMPORT_BODY,
)
async def import_certificates(request: Request, caller: Admin) -> dict[str, Any]:
    """Files are recognised by content; one bad file rejects the whole batch.

    A certificate for a pending request's key fulfils the request; chains are
    ordered by signature and completed from the Mozilla roots where possible.
    """
    async with request.form(max_files=MAX_IMPORT_FILES, max_fields=10) as form:
        uploads = [f for f in form.getlist("files") if isinstance(f, UploadFile)]
        if not uploads:
            raise InvalidInput(
                "files", "send at least one file, as multipart/form-data 'files'"
            )
        batch = [
            ImportFile(u.filename or f"file {n}", await u.read())
            for n, u in enumerate(uploads, start=1)
        ]
        given = form.get("passphrase")
    passphrase = given.encode() if isinstance(given, str) and given else None
    result = await run_in_threadpool(import_files, caller.ctx, batch, passphrase)
    return result.as_json()


@router.post(
    "/certificates/{id}/default",
    response_model=DefaultSetOut,
    summary="Make a certificate the default",
    responses=errors(403, 404, 409, 422),
)
async def set_default(id: Id, caller: Admin) -> dict[str, Any]:
    """Served to clients that send no SNI, or a name nothing else matches."""
    changed = await run_in_threadpool(certificates.set_default, caller.ctx, str(id))
    return {**changed.view.as_json(), "change_warnings": list(changed.warnings)}


@router.delete(
    "/certificates/{id}",
    response_model=DeletedCertificateOut,
    summary="Delete a certificate",
    responses=errors(403, 404, 409, 422),
)
async def delete_certificate(
    id: Id,
    caller: Admin,
    keep_chain: Annotated[
        bool, Query(description="Keep issuers that no other certificate uses.")
    ] = False,
) -> dict[str, Any]:
    """Never the default, nor an issuer still in another chain; its key goes too
    when nothing else uses it."""
    deleted = await run_in_threadpool(
        lambda: certificates.delete(caller.ctx, str(id), keep_chain=keep_chain)
    )
    return {
        "id": deleted.id,
        "name": deleted.name,
        "removed_issuers": list(deleted.removed_issuers),
        "removed_key": deleted.removed_key,
    }


@router.post(
    "/certificates/{id}/export",
    response_class=Response,
    summary="Export a certificate",
    responses={
        200: {
            "description": "The file, as an attachment.",
            "content": {d.media_type: _BINARY for d in EXPORT_FORMATS.values()},
        },
        **errors(400, 403, 404, 413, 422),
    },
)
async def export_certificate(id: Id, body: ExportIn, caller: Reader) -> Response:
    """The certificate alone, with its chain, or with chain and private key.

    A private key is only exported by an admin, encrypted under a passphrase,
    and every export is an audit event.
    """
    if body.private_key and not caller.principal.is_admin:
        raise Forbidden(
            f"{caller.principal.username} is an auditor token; exporting a private "
            "key needs an admin"
        )
    secret = body.passphrase.get_secret_value() if body.passphrase else ""
    if body.private_key and not secret:
        raise InvalidInput(
            "passphrase", "an export with the private key needs a passphrase"
        )

    exported = await run_in_threadpool(
        lambda: certificates.export(
            caller.ctx,
            str(id),
            fmt=body.format,
            with_chain=body.chain,
            with_key=body.private_key,
            passphrase=secret.encode() if secret else None,
        )
    )
    view = exported.view
    return attachment(exported.data, EXPORT_FORMATS[body.format], view.name, view.id)
