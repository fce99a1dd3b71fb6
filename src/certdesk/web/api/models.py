"""The API's bodies as pydantic models: they are what OpenAPI documents.

The fields mirror the CLI's `--json` output (services/views.py), so a script
can move between the two without translation.
"""

from pydantic import BaseModel, Field


class Error(BaseModel):
    error: str = Field(description="What went wrong and what to do next.")
    status: int
    field: str | None = Field(None, description="The input at fault, if one is.")


class CertificateRef(BaseModel):
    id: int
    name: str


class DefaultCertificateOut(CertificateRef):
    days_left: int


class ServedNameOut(BaseModel):
    name: str
    certificate: CertificateRef
    reason: str = Field(description="exact or wildcard")
    days_left: int


class BasicsOut(BaseModel):
    hostname: str
    version: str
    node: str
    uptime_seconds: int
    default_certificate: DefaultCertificateOut | None
    served_names: list[ServedNameOut]
