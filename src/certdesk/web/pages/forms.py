"""Reading submitted forms: every value is text, missing ones are empty."""

from typing import Annotated

from fastapi import Path
from starlette.datastructures import FormData, UploadFile

from certdesk.web.api.common import MAX_ID

# An id in a page's path: a larger one names no row, and the database would
# refuse the query with an error instead of finding nothing.
PageId = Annotated[int, Path(ge=1, le=MAX_ID)]


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def texts(form: FormData, name: str) -> list[str]:
    """Every non-empty value of a repeated field (SAN rows, check boxes)."""
    return [v.strip() for v in form.getlist(name) if isinstance(v, str) and v.strip()]


def uploads(form: FormData, name: str) -> list[UploadFile]:
    return [v for v in form.getlist(name) if isinstance(v, UploadFile) and v.filename]


def object_id(value: str) -> int | None:
    """An id from a form or query, or None when it cannot name a row
    ("²" is a digit to str.isdigit, and int() refuses it)."""
    value = value.strip()
    if value.isascii() and value.isdigit() and 1 <= int(value) <= MAX_ID:
        return int(value)
    return None
