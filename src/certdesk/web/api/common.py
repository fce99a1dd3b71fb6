"""What the API modules share: the callers, typed path ids, declared errors.

Every route lists the errors it can answer with `errors(...)`, so the OpenAPI
document says what the server really sends (schemathesis holds it to that).
"""

from typing import Annotated, Any

from fastapi import Depends, Path

from certdesk.web.api.models import Error
from certdesk.web.auth import Caller, api_admin, api_reader

# Ids are SQL INTEGER columns: anything larger cannot name a row.
MAX_ID = 2**31 - 1

Reader = Annotated[Caller, Depends(api_reader)]
Admin = Annotated[Caller, Depends(api_admin)]

Id = Annotated[
    int, Path(ge=1, le=MAX_ID, description="The object's id, as lists show it.")
]

_MEANING = {
    400: "The body could not be read: not UTF-8 JSON, or a broken upload.",
    401: "No API token, or one that is unknown or revoked.",
    403: "The token's role does not allow this: auditors change nothing and "
    "never export a private key.",
    404: "Nothing has this id or name.",
    409: "Not possible in the current state; the message says what to do first.",
    413: "The request body is over the upload limit (max_upload_mib).",
    422: "An input breaks a rule; `field` names it.",
    502: "A system certdesk relies on (the ACME CA, the mail relay) refused or "
    "failed; the message carries its own words.",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The error answers of a route: 401 always, and `codes`, all as `Error`."""
    return {
        code: {"model": Error, "description": _MEANING[code]}
        for code in sorted({401, *codes})
    }
