"""What a page says after a change: carried across the post/redirect/get step.

A successful form redirects, so the message it leaves (a notice, the
warnings a service returned, an import's items) travels in a short-lived
cookie that the next page shows once and deletes. The cookie is signed with
the session's secret, so nobody else can plant text in another's pages.
"""

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from certdesk.web.auth import SESSION_COOKIE, Caller
from certdesk.web.pages.templating import render

FLASH_COOKIE = "certdesk_flash"
# Browsers keep about 4 KiB per cookie; long lists are cut to fit.
MAX_BYTES = 3000


@dataclass
class Flash:
    notice: str = ""
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # Rows of a result table (an import's items), as plain strings.
    rows: list[dict[str, Any]] = field(default_factory=list)
    rows_left_out: int = 0

    def __bool__(self) -> bool:
        return bool(self.notice or self.warnings or self.errors or self.rows)


def redirect(request: Request, target: str, flash: Flash) -> Response:
    """A 303 to `target` that leaves `flash` for it to show."""
    response = RedirectResponse(target, 303)
    secret = request.cookies.get(SESSION_COOKIE, "")
    response.set_cookie(
        FLASH_COOKIE,
        _seal(secret, flash),
        secure=True,
        httponly=True,
        samesite="strict",
        path="/appliance",
    )
    return response


def take(request: Request) -> Flash:
    """The flash left for this page, or an empty one; call `forget` after."""
    value = request.cookies.get(FLASH_COOKIE)
    secret = request.cookies.get(SESSION_COOKIE, "")
    if not value or not secret:
        return Flash()
    body, _, signature = value.rpartition(".")
    # As bytes: the cookie may hold anything, and compare_digest raises on
    # non-ASCII text (cookies ignore the scheme: HTTP can plant one).
    expected = _sign(secret, body).encode()
    if not hmac.compare_digest(signature.encode(errors="replace"), expected):
        return Flash()
    try:
        data = json.loads(base64.urlsafe_b64decode(body))
        return Flash(**data)
    except (ValueError, TypeError):
        return Flash()


def forget(request: Request, response: Response) -> Response:
    if FLASH_COOKIE in request.cookies:
        response.delete_cookie(FLASH_COOKIE, path="/appliance")
    return response


def _seal(secret: str, flash: Flash) -> str:
    """Encode and sign, dropping rows from the end until the cookie fits."""
    rows = list(flash.rows)
    left_out = flash.rows_left_out
    while True:
        data = {
            "notice": flash.notice,
            "warnings": flash.warnings,
            "errors": flash.errors,
            "rows": rows,
            "rows_left_out": left_out,
        }
        body = base64.urlsafe_b64encode(
            json.dumps(data, separators=(",", ":")).encode()
        ).decode()
        if len(body) <= MAX_BYTES or not rows:
            return f"{body}.{_sign(secret, body)}"
        rows.pop()
        left_out += 1


def _sign(secret: str, body: str) -> str:
    key = hashlib.sha256(b"certdesk flash\0" + secret.encode()).digest()
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()


def render_page(
    request: Request,
    template: str,
    caller: Caller,
    *,
    status: int = 200,
    **values: Any,
) -> Response:
    """`render`, showing (and then deleting) what the last change left."""
    shown = take(request)
    response = render(
        request,
        template,
        caller,
        status=status,
        notice=shown.notice,
        flash=shown,
        **values,
    )
    return forget(request, response)
