"""Certificates from ACME CAs: list, request, renew now, revoke.

An order runs inside the request, in a worker thread: against a nearby CA it
takes well under a second; a public CA can take several. The CA's refusals
answer 502 with its own words; a pre-flight refusal or a name already
managed answers 409 before anything reaches the CA.
"""

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from certdesk.errors import InvalidInput
from certdesk.pki.keys import KeyType
from certdesk.services.acme import directories, ordering, preflight, revocation
from certdesk.services.acme.client import Eab, Polling
from certdesk.services.acme.ordering import OrderOptions
from certdesk.services.acme.status import list_managed
from certdesk.web.api.common import Admin, Id, Reader, errors
from certdesk.web.api.models import (
    AcmeRequestIn,
    IssuedOut,
    ManagedOut,
    RevokedOut,
    RevokeIn,
)

router = APIRouter(tags=["acme"])

# A person is waiting on the answer: ask the CA often, give up in time.
WEB_POLLING = Polling(interval=0.5, timeout=90.0)


def order_options(
    *,
    directory: str | None,
    ca_bundle: bytes | None,
    eab_kid: str | None,
    eab_hmac: str | None,
    email: str | None,
    challenge_port: int,
    skip_preflight: bool,
) -> OrderOptions:
    """An order's options from a form or a body, checked as the CLI checks them."""
    chosen = directories.choose(directory, ca_bundle)
    kid = (eab_kid or "").strip()
    hmac = (eab_hmac or "").strip()
    if bool(kid) != bool(hmac):
        field = "eab_hmac" if kid else "eab_kid"
        raise InvalidInput(field, "give the EAB key id and HMAC key together")
    probe = None if skip_preflight else preflight.Preflight(port=challenge_port)
    return OrderOptions(
        chosen,
        email=(email or "").strip() or None,
        eab=Eab(kid, hmac) if kid else None,
        polling=WEB_POLLING,
        preflight=probe,
    )


@router.get(
    "/acme/certificates",
    response_model=list[ManagedOut],
    summary="List managed certificates",
    responses=errors(),
)
async def list_certificates(caller: Reader) -> list[dict[str, Any]]:
    """Every certificate the appliance renews itself, with its renewal state."""
    views = await run_in_threadpool(list_managed, caller.ctx)
    return [v.as_json() for v in views]


@router.post(
    "/acme/certificates",
    response_model=IssuedOut,
    status_code=201,
    summary="Request a certificate from an ACME CA",
    responses=errors(400, 403, 409, 413, 422, 502),
)
async def request_certificate(body: AcmeRequestIn, caller: Admin) -> dict[str, Any]:
    """Pre-flight, order, HTTP-01 answered by this appliance, then stored and
    served; it is renewed from then on."""
    options = order_options(
        directory=body.directory,
        ca_bundle=body.ca_bundle_pem.encode() if body.ca_bundle_pem else None,
        eab_kid=body.eab_kid,
        eab_hmac=body.eab_hmac_key.get_secret_value() if body.eab_hmac_key else None,
        email=body.email,
        challenge_port=body.challenge_port,
        skip_preflight=body.skip_preflight,
    )
    issued = await run_in_threadpool(
        lambda: ordering.request_certificate(
            caller.ctx,
            body.names,
            KeyType(body.key),
            options,
            renew_before_days=body.renew_before_days,
            reuse_key=body.reuse_key,
        )
    )
    return issued.as_json()


@router.post(
    "/acme/certificates/{id}/renew",
    response_model=IssuedOut,
    summary="Renew a managed certificate now",
    responses=errors(403, 404, 409, 422, 502),
)
async def renew(id: Id, caller: Admin) -> dict[str, Any]:
    """The same names from the same CA; the new certificate replaces this one
    in service and takes a new id. No pre-flight: the names passed it before."""
    options = OrderOptions(
        directories.choose(None), polling=WEB_POLLING, preflight=None
    )
    issued = await run_in_threadpool(ordering.renew, caller.ctx, str(id), options)
    return issued.as_json()


@router.post(
    "/acme/certificates/{id}/revoke",
    response_model=RevokedOut,
    summary="Revoke a managed certificate",
    responses=errors(400, 403, 404, 409, 413, 422, 502),
)
async def revoke(id: Id, body: RevokeIn, caller: Admin) -> dict[str, Any]:
    """Revoked at the CA, then kept as a record without its key, so no longer
    served; never the default certificate."""
    done = await run_in_threadpool(
        lambda: revocation.revoke(
            caller.ctx,
            str(id),
            revocation.Reason[body.reason],
            polling=WEB_POLLING,
        )
    )
    return done.as_json()
