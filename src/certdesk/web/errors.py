"""The one table from certdesk's errors to HTTP statuses, for pages and API.

Only a `CertdeskError`'s own message reaches a client: it is written for a
person and never carries key material. Anything else is a bug, logged once
here with its traceback and answered with a bare 500 and an incident id.
"""

import logging
import secrets
from dataclasses import dataclass

from certdesk.errors import (
    Ambiguous,
    CertdeskError,
    Conflict,
    Forbidden,
    InvalidInput,
    LoginRefused,
    NotFound,
    NotSignedIn,
    RejectedFile,
    TooLarge,
    UpstreamFailed,
)

log = logging.getLogger(__name__)

STATUS: list[tuple[type[CertdeskError], int]] = [
    (NotSignedIn, 401),
    (LoginRefused, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Ambiguous, 409),
    (Conflict, 409),
    (TooLarge, 413),
    (InvalidInput, 422),
    (RejectedFile, 422),
    (UpstreamFailed, 502),
]


@dataclass(frozen=True)
class Problem:
    """What a client is told: status, a message it can act on, the field at fault."""

    status: int
    message: str
    field: str | None = None
    retry_after: int = 0

    def as_json(self) -> dict[str, object]:
        body: dict[str, object] = {"error": self.message, "status": self.status}
        if self.field is not None:
            body["field"] = self.field
        return body

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after else {}


def problem_for(exc: CertdeskError) -> Problem:
    status = next((code for cls, code in STATUS if isinstance(exc, cls)), 400)
    field = None
    message = str(exc)
    if isinstance(exc, InvalidInput):
        field, message = exc.field, exc.reason
    elif isinstance(exc, RejectedFile):
        field = "files"
    retry_after = exc.retry_after if isinstance(exc, LoginRefused) else 0
    if retry_after:
        status = 429
    return Problem(status, message, field, retry_after)


def internal_problem(exc: Exception, path: str) -> Problem:
    """Log a bug once, with its traceback; the client gets only an incident id."""
    incident = secrets.token_hex(4)
    log.error(
        "internal error",
        exc_info=exc,
        extra={"incident": incident, "path": path},
    )
    return Problem(
        500, f"internal error (incident {incident}); it has been logged", None
    )
