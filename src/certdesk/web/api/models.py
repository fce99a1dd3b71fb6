"""The API's bodies as pydantic models: they are what OpenAPI documents.

The fields mirror the CLI's `--json` output (services/views.py and the
services' `as_json`), so a script can move between the two without
translation. Input models check only what is cheap (types, lengths); the
services apply the real rules and name the field at fault.
"""

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr
from pydantic_core import PydanticCustomError

from certdesk.pki.encode import ExportFormat
from certdesk.pki.keys import KeyType
from certdesk.services.accounts import Role


def _storable(value: str) -> str:
    """JSON can carry what no database stores: lone surrogates and NUL."""
    if "\x00" in value:
        raise PydanticCustomError("nul", "must not contain NUL characters")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise PydanticCustomError("unicode", "is not valid Unicode text") from None
    return value


def _fits_common_name(value: str | None) -> str | None:
    """X.509 bounds a CN at 64 bytes of UTF-8, not 64 characters."""
    if value is not None and len(value.strip().encode()) > CN_BYTES:
        raise PydanticCustomError(
            "cn_bytes",
            "is {size} bytes in UTF-8; at most {limit} fit in a certificate",
            {"size": len(value.strip().encode()), "limit": CN_BYTES},
        )
    return value


CN_BYTES = 64

Text = Annotated[str, AfterValidator(_storable)]
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]

CertificateRole = Literal["server", "intermediate", "root"]
ChainStatusName = Literal["complete", "incomplete", "self-signed"]


class Error(BaseModel):
    error: str = Field(description="What went wrong and what to do next.")
    status: int
    field: str | None = Field(None, description="The input at fault, if one is.")


class Input(BaseModel):
    """Unknown fields are refused, so a misspelt option is not silently ignored."""

    model_config = ConfigDict(extra="forbid")


# Status


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


# Certificates


class KeyOut(BaseModel):
    algorithm: str
    size: int = Field(description="In bits.")
    label: str = Field(description="As lists show it, e.g. 'ECDSA P-256'.")


class ChainEntryOut(BaseModel):
    id: int
    fingerprint_sha256: str
    role: CertificateRole
    subject: str
    source: str


class WarningOut(BaseModel):
    code: str = Field(description="Stable: see the README's JSON fields.")
    message: str


class CertificateOut(BaseModel):
    id: int
    name: str
    subject: str
    issuer: str
    issued_to: str | None
    issued_by: str | None
    sans: list[str]
    not_before: Timestamp
    not_after: Timestamp
    days_left: int
    fingerprint_sha256: str
    fingerprint_sha1: str
    serial: str
    key: KeyOut
    signature_algorithm: str
    has_key: bool = Field(description="The appliance holds the private key.")
    is_default: bool
    factory_default: bool
    role: CertificateRole
    source: str
    chain: list[ChainEntryOut] = Field(description="Leaf first, up to the root.")
    chain_status: ChainStatusName
    chain_missing: str | None
    chain_notes: list[str]
    warnings: list[WarningOut]


class CreatedCertificateOut(CertificateOut):
    input_warnings: list[str] = Field(
        description="What a careful administrator should know about the input."
    )


class DefaultSetOut(CertificateOut):
    change_warnings: list[str] = Field(
        description="Clients that may fail after the change, and why."
    )


class DeletedCertificateOut(BaseModel):
    id: int
    name: str
    removed_issuers: list[int]
    removed_key: bool


class SubjectIn(Input):
    """The Create form: friendly name, key, subject fields and SANs."""

    name: Text = Field(min_length=1, max_length=200, description="Friendly name.")
    key: KeyType = KeyType.RSA2048
    country: Text | None = Field(
        None, max_length=2, description="ISO 3166 two-letter code, e.g. US."
    )
    state: Text | None = Field(
        None, max_length=128, description="State or province, written out in full."
    )
    city: Text | None = Field(None, max_length=128)
    org: Text | None = Field(None, max_length=64, description="Organization.")
    ou: Text | None = Field(None, max_length=64, description="Organizational unit.")
    cn: Annotated[Text | None, AfterValidator(_fits_common_name)] = Field(
        None, max_length=64, description="Common name."
    )
    sans: list[Annotated[Text, Field(max_length=253)]] = Field(
        default_factory=list,
        max_length=100,
        description="DNS names, *.wildcards or IP addresses; a CN that is a DNS "
        "name becomes the first.",
    )


class SelfSignedIn(SubjectIn):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Support (test)",
                    "key": "p256",
                    "country": "US",
                    "state": "California",
                    "org": "Example Inc",
                    "cn": "support.example.com",
                    "sans": ["remote.example.com"],
                    "days": 90,
                }
            ]
        }
    )

    days: int = Field(365, ge=1, le=3650, description="Validity in days.")


class ExportIn(Input):
    format: ExportFormat = Field(
        ExportFormat.PEM,
        description="pem, der (one certificate), p7b (certificates), p12.",
    )
    chain: bool = Field(False, description="Include the issuers.")
    private_key: bool = Field(
        False, description="Include the private key: admins only, needs a passphrase."
    )
    passphrase: SecretStr | None = Field(
        None,
        max_length=1024,
        description="Encrypts the private key (PKCS#12 or encrypted PKCS#8).",
    )


class ImportItemOut(BaseModel):
    outcome: Literal["created", "already-present", "key-attached", "ignored"]
    kind: str
    file: str
    id: int | None
    name: str | None
    fingerprint_sha256: str | None
    role: str | None
    detail: str | None


class ImportOut(BaseModel):
    items: list[ImportItemOut]
    fulfilled_requests: list[int]
    repaired_chains: list[int]


# Requests


class RequestSummaryOut(BaseModel):
    id: int
    name: str
    subject: str
    sans: list[str]
    key: str = Field(description="Algorithm and size, e.g. 'RSA 2048'.")
    status: Literal["pending", "fulfilled"]
    certificate_id: int | None = Field(description="The certificate that fulfilled it.")
    created_at: Timestamp


class RequestOut(RequestSummaryOut):
    pem: str = Field(description="The request data (PKCS#10, PEM) to give a CA.")


class CreatedRequestOut(RequestOut):
    input_warnings: list[str]


class RequestIn(SubjectIn):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Support 2026",
                    "key": "rsa3072",
                    "country": "US",
                    "org": "Example Inc",
                    "cn": "support.example.com",
                    "sans": ["*.support.example.com"],
                }
            ]
        }
    )

    like_certificate: int | None = Field(
        None,
        ge=1,
        le=2**31 - 1,
        description="Re-key: copy subject and SANs from this certificate; fields "
        "given here override them.",
    )


class DeletedRequestOut(BaseModel):
    id: int
    name: str
    status: str


# Serving


class PassedOverOut(CertificateRef):
    because: str


class WhichOut(BaseModel):
    server_name: str | None
    lookup_name: str | None = Field(description="The name as it is looked up.")
    reason: Literal["exact", "wildcard", "default", "none"]
    certificate: CertificateRef | None
    passed_over: list[PassedOverOut]


# Users


class UserOut(BaseModel):
    id: int
    username: str
    email: str | None
    role: Role
    disabled: bool
    must_change_password: bool
    created_at: Timestamp
    last_login_at: Timestamp | None
    locked_until: Timestamp | None = Field(
        description="While some client is locked out of the account by too many "
        "failed sign-ins: when the last of those locks ends."
    )
    locked_clients: int = Field(
        description="How many clients (addresses) are locked out of the account now."
    )


class UserWithPasswordOut(UserOut):
    one_time_password: str = Field(
        description="Shown once; the user must replace it at first sign-in."
    )


class UserIn(Input):
    username: Text = Field(
        min_length=1, max_length=64, description="Letters, digits, '.', '_', '-'."
    )
    role: Role
    email: Text | None = Field(None, max_length=254)


class EmailIn(Input):
    email: Text | None = Field(
        max_length=254, description="The address, or null to remove it."
    )


# Tokens


class TokenOut(BaseModel):
    id: int
    name: str
    role: Role
    created_at: Timestamp
    created_by: str
    last_used_at: Timestamp | None
    revoked_at: Timestamp | None


class TokenWithSecretOut(TokenOut):
    token: str = Field(
        description="The secret: send it as 'Authorization: Bearer <token>'. "
        "Shown only once."
    )


class TokenIn(Input):
    name: Text = Field(min_length=1, max_length=64, description="What uses it.")
    role: Role


# Events


class EventOut(BaseModel):
    id: int
    at: Timestamp
    actor: str = Field(description="user:NAME, token:NAME, or the CLI's actor.")
    action: str
    object_type: str
    object_id: str | None
    object_name: str | None
    details: dict[str, Any]


# Mail relay


MailSecurity = Literal["starttls", "tls", "none"]


class MailSettingsOut(BaseModel):
    source: Literal["web", "file", "none"] = Field(
        description="web: set through the pages or API; file: [smtp] in "
        "certdesk.toml; none: no relay, so no alert email."
    )
    host: str | None
    port: int | None
    security: MailSecurity | None
    username: str | None
    password_set: bool = Field(description="The password itself is never shown.")
    from_address: str | None
    ca_bundle_subjects: list[str] = Field(
        description="The CAs trusted for the relay's TLS instead of the system's."
    )
    updated_at: Timestamp | None
    updated_by: str | None


class MailSettingsIn(Input):
    host: Text = Field(min_length=1, max_length=255)
    port: int | None = Field(
        None, ge=1, le=65535, description="Default: 587, 465 or 25 by security."
    )
    security: MailSecurity = "starttls"
    username: Text | None = Field(None, max_length=255)
    password: SecretStr | None = Field(
        None,
        max_length=1024,
        description="Write-only. Absent or null keeps the stored password.",
    )
    from_address: Text = Field(min_length=3, max_length=254)
    ca_bundle_pem: Text | None = Field(
        None,
        max_length=1024 * 1024,
        description="PEM CA certificate(s) for the relay's TLS. Absent keeps the "
        "stored one; null removes it.",
    )


class MailTestIn(Input):
    to: Text = Field(min_length=3, max_length=254)


class MailTestOut(BaseModel):
    sent_to: str


# ACME


AcmeKey = Literal["p256", "p384", "rsa2048", "rsa4096"]
RevocationReason = Literal[
    "unspecified",
    "keyCompromise",
    "affiliationChanged",
    "superseded",
    "cessationOfOperation",
]


class ManagedOut(BaseModel):
    """As `certdesk acme status --json` shows each managed certificate."""

    managed_id: int
    certificate_id: int = Field(description="The id renew and revoke take.")
    name: str
    identifiers: list[str]
    directory: str
    key_type: str
    state: str = Field(
        description="valid, renewal-due, renewing, failing, error or revoked."
    )
    not_after: Timestamp
    days_left: int
    next_renewal_at: Timestamp | None
    next_renewal_reason: str | None
    last_attempt_at: Timestamp | None
    last_error: str | None = Field(description="The CA's own words.")
    failures: int
    last_success_at: Timestamp | None = None
    retry_not_before: Timestamp | None = Field(
        None, description="The CA asked for no attempt before this."
    )
    rate_limited: bool = False
    superseded_certificate_id: int | None = Field(
        None, description="The certificate a renewal replaced, until unserved."
    )


class AcmeRequestIn(Input):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "names": ["support.example.com", "www.example.com"],
                    "key": "p256",
                    "directory": "letsencrypt-staging",
                }
            ]
        }
    )

    names: list[Annotated[Text, Field(max_length=253)]] = Field(
        min_length=1,
        max_length=100,
        description="Host names or IP addresses; the first is the common name.",
    )
    key: AcmeKey = "p256"
    directory: Text | None = Field(
        None,
        max_length=2000,
        description="letsencrypt (the default), letsencrypt-staging, or the "
        "URL of another CA's ACME directory (always HTTPS).",
    )
    ca_bundle_pem: Text | None = Field(
        None,
        max_length=1024 * 1024,
        description="PEM roots for the CA's own HTTPS (an internal CA).",
    )
    eab_kid: Text | None = Field(
        None, max_length=500, description="External Account Binding key id."
    )
    eab_hmac_key: SecretStr | None = Field(
        None, max_length=500, description="The EAB HMAC key, base64url."
    )
    email: Text | None = Field(
        None, max_length=254, description="Contact address for the account."
    )
    challenge_port: int = Field(
        80,
        ge=1,
        le=65535,
        description="The port the CA fetches HTTP-01 answers on, which the "
        "pre-flight probes (80 for public CAs).",
    )
    skip_preflight: bool = False
    renew_before_days: int = Field(30, ge=1, le=365)
    reuse_key: bool = Field(False, description="Keep the key at each renewal.")


class IssuedOut(BaseModel):
    """As `certdesk acme request --json` and `acme renew --json` show it."""

    certificate_id: int
    name: str
    fingerprint_sha256: str
    not_after: Timestamp
    managed_id: int
    identifiers: list[str]
    chain_status: str
    seconds: float
    replaced_certificate_id: int | None


class RevokeIn(Input):
    reason: RevocationReason = "unspecified"


class RevokedOut(BaseModel):
    certificate_id: int
    name: str
    fingerprint_sha256: str
    serial: str
    reason: RevocationReason
    state: Literal["revoked"]
