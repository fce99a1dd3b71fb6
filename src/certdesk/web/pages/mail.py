"""Settings > Email: the relay alerts are sent through, and a test button.

Everyone may read the settings (never the password); only admins change them
or send a test. A failed test shows the relay's own reply, since that is
what an administrator needs to fix the relay or the settings.
"""

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from certdesk.errors import InvalidInput
from certdesk.services import accounts, mail_settings
from certdesk.services.mail import MailError, Security, SmtpSettings
from certdesk.web.auth import Caller, page_admin_form, page_reader
from certdesk.web.pages import flash
from certdesk.web.pages.flash import Flash
from certdesk.web.pages.forms import text, uploads

router = APIRouter(include_in_schema=False)

PAGE = "/appliance/settings/email"
SECURITY_LABELS = {
    Security.STARTTLS: "STARTTLS (usually port 587)",
    Security.TLS: "TLS from the start (usually port 465)",
    Security.NONE: "None: a relay on this machine only (port 25)",
}
FIELDS = ("host", "port", "security", "username", "from_address")


def _configured(request: Request) -> SmtpSettings | None:
    smtp: SmtpSettings | None = request.app.state.config.smtp_file
    return smtp


@router.get(PAGE)
async def email_page(
    request: Request, caller: Annotated[Caller, Depends(page_reader)]
) -> Response:
    return await _page(request, caller, None, {})


@router.post(PAGE)
async def save(
    request: Request, caller: Annotated[Caller, Depends(page_admin_form)]
) -> Response:
    form = await request.form()
    try:
        entered = {f: text(form, f) for f in FIELDS}
        bundle = b""
        for upload in uploads(form, "ca_bundle"):
            bundle = await upload.read()
        password = text(form, "password")
        remove_bundle = bool(text(form, "remove_ca_bundle"))
    finally:
        await form.close()

    try:
        port = _port(entered["port"])
        saved = await run_in_threadpool(
            lambda: mail_settings.save(
                caller.ctx,
                host=entered["host"],
                port=port,
                security=entered["security"],
                username=entered["username"],
                password=password,
                from_address=entered["from_address"],
                ca_bundle=bundle or None,
                remove_ca_bundle=remove_bundle,
            )
        )
    except InvalidInput as exc:
        return await _page(request, caller, entered, {exc.field: exc.reason}, 422)
    notice = (
        f"Saved: alerts now go through {saved.host}:{saved.port}. Send a test "
        "email to check that they arrive."
    )
    return flash.redirect(request, PAGE, Flash(notice))


@router.post(PAGE + "/test")
async def send_test(
    request: Request, caller: Annotated[Caller, Depends(page_admin_form)]
) -> Response:
    form = await request.form()
    to = text(form, "to")
    try:
        sent = await run_in_threadpool(
            mail_settings.send_test, caller.ctx, _configured(request), to
        )
    except InvalidInput as exc:
        return await _page(request, caller, None, {"to": exc.reason}, 422, to=to)
    except MailError as exc:
        message = f"The test email was not sent: {exc}"
        return flash.redirect(request, PAGE, Flash(errors=[message]))
    notice = f"Test email sent to {sent}: check that it arrived."
    return flash.redirect(request, PAGE, Flash(notice))


@router.post(PAGE + "/remove")
async def remove(
    request: Request, caller: Annotated[Caller, Depends(page_admin_form)]
) -> Response:
    now = await run_in_threadpool(mail_settings.clear, caller.ctx, _configured(request))
    if now.source == "file":
        notice = "Removed the relay set here: certdesk.toml's [smtp] applies again."
    else:
        notice = "Removed the relay: no alert email can be sent until one is set."
    return flash.redirect(request, PAGE, Flash(notice))


async def _page(
    request: Request,
    caller: Caller,
    entered: dict[str, str] | None,
    errors: dict[str, str],
    status: int = 200,
    *,
    to: str | None = None,
) -> Response:
    current = await run_in_threadpool(
        mail_settings.view, caller.ctx, _configured(request)
    )
    if entered is None:
        entered = {
            "host": current.host or "",
            "port": str(current.port or ""),
            "security": current.security or Security.STARTTLS.value,
            "username": current.username or "",
            "from_address": current.from_address or "",
        }
    if to is None:
        to = await _own_email(caller)
    return flash.render_page(
        request,
        "mail.html",
        caller,
        status=status,
        current=current,
        form=entered,
        errors=errors,
        to=to,
        security_labels=SECURITY_LABELS,
    )


async def _own_email(caller: Caller) -> str:
    """The signed-in admin's own address: where a test most often should go."""
    if not caller.principal.is_admin:
        return ""
    user = await run_in_threadpool(
        accounts.get_user, caller.ctx, caller.principal.username
    )
    return user.email or ""


def _port(value: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    if not (value.isascii() and value.isdigit()):
        raise InvalidInput("port", f"{value!r} is not a port number (1-65535)")
    return int(value)
