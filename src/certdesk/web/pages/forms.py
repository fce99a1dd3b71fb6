"""Reading submitted forms: every value is text, missing ones are empty."""

from starlette.datastructures import FormData, UploadFile


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def texts(form: FormData, name: str) -> list[str]:
    """Every non-empty value of a repeated field (SAN rows, check boxes)."""
    return [v.strip() for v in form.getlist(name) if isinstance(v, str) and v.strip()]


def uploads(form: FormData, name: str) -> list[UploadFile]:
    return [v for v in form.getlist(name) if isinstance(v, UploadFile) and v.filename]
