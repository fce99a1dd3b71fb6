"""The mail relay alerts go through: read, set, remove, and a test message.

The password is write-only here as on the page: answers say only whether one
is stored. A failed test answers 502 with the relay's own reply.
"""

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from certdesk.services import mail_settings
from certdesk.services.mail import SmtpSettings
from certdesk.web.api.common import Admin, Reader, errors
from certdesk.web.api.models import (
    MailSettingsIn,
    MailSettingsOut,
    MailTestIn,
    MailTestOut,
)

router = APIRouter(tags=["mail"])


def _configured(request: Request) -> SmtpSettings | None:
    smtp: SmtpSettings | None = request.app.state.config.smtp_file
    return smtp


@router.get(
    "/mail/settings",
    response_model=MailSettingsOut,
    summary="Show the mail relay",
    responses=errors(),
)
async def show_settings(request: Request, caller: Reader) -> dict[str, Any]:
    """The relay in use and where it was set; never the password."""
    found = await run_in_threadpool(
        mail_settings.view, caller.ctx, _configured(request)
    )
    return found.as_json()


@router.put(
    "/mail/settings",
    response_model=MailSettingsOut,
    summary="Set the mail relay",
    responses=errors(400, 403, 413, 422),
)
async def put_settings(body: MailSettingsIn, caller: Admin) -> dict[str, Any]:
    """Wins over [smtp] in certdesk.toml; plain SMTP only to a loopback relay."""
    given = body.ca_bundle_pem
    sent_bundle = "ca_bundle_pem" in body.model_fields_set
    password = body.password.get_secret_value() if body.password else None
    saved = await run_in_threadpool(
        lambda: mail_settings.save(
            caller.ctx,
            host=body.host,
            port=body.port,
            security=body.security,
            username=body.username,
            password=password,
            from_address=body.from_address,
            ca_bundle=given.encode() if given else None,
            remove_ca_bundle=sent_bundle and not given,
        )
    )
    return saved.as_json()


@router.delete(
    "/mail/settings",
    response_model=MailSettingsOut,
    summary="Remove the mail relay set here",
    responses=errors(403),
)
async def delete_settings(request: Request, caller: Admin) -> dict[str, Any]:
    """The file's [smtp] settings, if any, apply again; answers what is in use."""
    now = await run_in_threadpool(mail_settings.clear, caller.ctx, _configured(request))
    return now.as_json()


@router.post(
    "/mail/test",
    response_model=MailTestOut,
    summary="Send a test email",
    responses=errors(400, 403, 413, 422, 502),
)
async def send_test(request: Request, body: MailTestIn, caller: Admin) -> Any:
    """One short message through the relay in use, as an alert would go."""
    sent = await run_in_threadpool(
        mail_settings.send_test, caller.ctx, _configured(request), body.to
    )
    return {"sent_to": sent}
