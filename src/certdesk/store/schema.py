"""The tables, as SQLAlchemy models. Changes go through a migration in
`migrations/versions`; the schema stays portable between SQLite and PostgreSQL.
"""

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Rows fetched per IN (...) query: SQLite limits bound parameters per statement.
CHUNK = 500

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timestamps stored as UTC and always read back timezone-aware.

    SQLite keeps no zone; without this a value would come back naive and
    compare wrongly with aware values from certificates.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass UTC")
        return value.astimezone(dt.UTC)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    # Class-level mapping that SQLAlchemy reads once; never mutated.
    type_annotation_map = {  # noqa: RUF012
        dt.datetime: UTCDateTime,
        dict[str, Any]: JSON,
    }


class Appliance(Base):
    """One row: the appliance-wide state, including which certificate is default.

    The foreign key makes the database itself refuse to delete the default.
    """

    __tablename__ = "appliance"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[dt.datetime]
    # Sealed known text: proves at start that the master key fits this store.
    key_check: Mapped[bytes] = mapped_column(LargeBinary)
    default_certificate_id: Mapped[int | None] = mapped_column(
        ForeignKey("certificates.id", ondelete="RESTRICT")
    )


class Key(Base):
    """A private key held by the appliance, sealed under the master key."""

    __tablename__ = "keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    size: Mapped[int]
    spki_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime]


class Certificate(Base):
    """Every X.509 certificate the appliance stores: leaves and their issuers."""

    __tablename__ = "certificates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    fingerprint_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    der: Mapped[bytes] = mapped_column(LargeBinary)
    role: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(Text)
    issuer: Mapped[str] = mapped_column(Text)
    sans: Mapped[list[str]] = mapped_column(JSON)
    not_before: Mapped[dt.datetime]
    not_after: Mapped[dt.datetime]
    spki_sha256: Mapped[str] = mapped_column(String(64), index=True)
    key_id: Mapped[str | None] = mapped_column(
        ForeignKey("keys.id", ondelete="RESTRICT"), index=True
    )
    # How it arrived: imported, self-signed, factory-default, trust-store.
    source: Mapped[str] = mapped_column(String(32))
    chain_status: Mapped[str] = mapped_column(String(16))
    chain_missing: Mapped[str | None] = mapped_column(Text)
    chain_problem: Mapped[str | None] = mapped_column(Text)
    chain_notes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime]


class ChainLink(Base):
    """Position `position` (0 = the leaf's issuer) in a certificate's chain."""

    __tablename__ = "chain_links"

    certificate_id: Mapped[int] = mapped_column(
        ForeignKey("certificates.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer_id: Mapped[int] = mapped_column(
        ForeignKey("certificates.id", ondelete="RESTRICT"), index=True
    )


class Request(Base):
    """A certificate signing request whose key stays on the appliance."""

    __tablename__ = "requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    key_id: Mapped[str] = mapped_column(
        ForeignKey("keys.id", ondelete="RESTRICT"), index=True
    )
    subject: Mapped[str] = mapped_column(Text)
    sans: Mapped[list[str]] = mapped_column(JSON)
    pem: Mapped[str] = mapped_column(Text)
    # pending until a certificate for its key is imported, then fulfilled.
    status: Mapped[str] = mapped_column(String(16))
    certificate_id: Mapped[int | None] = mapped_column(
        ForeignKey("certificates.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime]
    fulfilled_at: Mapped[dt.datetime | None]


class Event(Base):
    """An audit record. Never holds key material, passphrases or tokens."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64), index=True)
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str | None] = mapped_column(String(64))
    object_name: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(JSON)


class AcmeChallenge(Base):
    """An HTTP-01 answer: any node's HTTP listener serves it from the store."""

    __tablename__ = "acme_challenges"

    token: Mapped[str] = mapped_column(String(255), primary_key=True)
    key_authorization: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime]


class User(Base):
    """A person who signs in to the web interface.

    The password is kept only as an Argon2id hash. Failed sign-ins are counted
    in `sign_in_throttle`, per client and name, not here.
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(254))
    # admin or auditor.
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    must_change_password: Mapped[bool] = mapped_column(Boolean)
    disabled: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[dt.datetime]
    last_login_at: Mapped[dt.datetime | None]
    password_changed_at: Mapped[dt.datetime | None]


class SignInThrottle(Base):
    """Consecutive failed sign-ins of one client with one user name.

    Keyed by the SHA-256 of client and name, so a password typed into the name
    field is never stored in clear; `username` is set only when the name is an
    existing account's, for resets and the Users page. In the store, not in a
    process, so that every worker and node counts the same failures.
    """

    __tablename__ = "sign_in_throttle"

    key_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str | None] = mapped_column(String(64), index=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_failed_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    locked_until: Mapped[dt.datetime | None]


class ApiToken(Base):
    """A bearer token for scripts; only the SHA-256 of its secret is stored.

    A name is unique among tokens not revoked, so it can be reused once the
    old token is revoked; revoked rows stay for the audit trail.
    """

    __tablename__ = "api_tokens"
    __table_args__ = (
        Index(
            "uq_api_tokens_active_name",
            "name",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime]
    created_by: Mapped[str] = mapped_column(String(200))
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]


class WebSession(Base):
    """A signed-in browser; the cookie holds the secret, the row its SHA-256."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    started_at: Mapped[dt.datetime]
    last_seen_at: Mapped[dt.datetime]


class AcmeAccount(Base):
    """The appliance's account at one ACME directory, created on first use.

    The account key is a row of `keys`, sealed like any certificate key; the
    HMAC key of External Account Binding is not kept (it is needed once).
    """

    __tablename__ = "acme_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    directory_url: Mapped[str] = mapped_column(String(2000), unique=True)
    key_id: Mapped[str] = mapped_column(ForeignKey("keys.id", ondelete="RESTRICT"))
    # Where the CA keeps the account; changes when it is registered again.
    account_url: Mapped[str] = mapped_column(String(2000))
    email: Mapped[str | None] = mapped_column(String(254))
    eab_kid: Mapped[str | None] = mapped_column(String(255))
    # Roots to trust for the CA's own HTTPS (an internal CA); None: the system's.
    ca_bundle_pem: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime]


class ManagedCertificate(Base):
    """A certificate the appliance obtains and renews itself over ACME.

    Deleting the certificate deletes this row, which stops its renewals. The
    lock columns keep two workers from renewing one certificate at once.
    """

    __tablename__ = "managed_certificates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # The certificate now in service; a renewal points this at its successor.
    certificate_id: Mapped[int] = mapped_column(
        ForeignKey("certificates.id", ondelete="CASCADE"), unique=True
    )
    # The DNS names and IP addresses ordered (the first DNS name is the CN).
    identifiers: Mapped[list[str]] = mapped_column(JSON)
    key_type: Mapped[str] = mapped_column(String(16))
    # False: every renewal gets a new key.
    reuse_key: Mapped[bool] = mapped_column(Boolean, default=False)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("acme_accounts.id", ondelete="RESTRICT"), index=True
    )
    renew_before_days: Mapped[int] = mapped_column(Integer, default=30)
    # valid, renewing, failing or revoked.
    state: Mapped[str] = mapped_column(String(16))
    next_renewal_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    # Why then, in words ("30 days before expiry", "CA renewal information").
    next_renewal_reason: Mapped[str | None] = mapped_column(Text)
    last_attempt_at: Mapped[dt.datetime | None]
    last_success_at: Mapped[dt.datetime | None]
    # The CA's own words for the last failure; None after a success.
    last_error: Mapped[str | None] = mapped_column(Text)
    # Failures since the last success, for backoff.
    failures: Mapped[int] = mapped_column(Integer, default=0)
    # No attempt before this (backoff, Retry-After, rate limits).
    retry_not_before: Mapped[dt.datetime | None]
    lock_owner: Mapped[str | None] = mapped_column(String(200))
    lock_until: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime]
    # The last failure was a rate limit (retry_not_before is the CA's time).
    rate_limited: Mapped[bool] = mapped_column(Boolean, default=False)
    # When the current attempt began; a stale one (a crashed worker) is cleared.
    renewing_since: Mapped[dt.datetime | None]
    # Fixed per certificate, so that its planned time does not move each run.
    jitter_fraction: Mapped[float] = mapped_column(Float, default=0.5)
    # The CA's renewal information (ACME ARI), where the directory offers it.
    renewal_window_start: Mapped[dt.datetime | None]
    renewal_window_end: Mapped[dt.datetime | None]
    renewal_explanation_url: Mapped[str | None] = mapped_column(Text)
    # When to ask for it next (the CA's Retry-After, or a few hours).
    renewal_info_next_check_at: Mapped[dt.datetime | None]
    # The certificate a renewal replaced, kept until the new one is served.
    superseded_certificate_id: Mapped[int | None] = mapped_column(
        ForeignKey("certificates.id", ondelete="SET NULL")
    )
    superseded_at: Mapped[dt.datetime | None]


class SmtpSettings(Base):
    """One row: the mail relay set in the web interface (overrides the file).

    The password is sealed under the master key like a private key.
    """

    __tablename__ = "smtp_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    # starttls, tls or none.
    security: Mapped[str] = mapped_column(String(16))
    username: Mapped[str | None] = mapped_column(String(255))
    password_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    from_address: Mapped[str] = mapped_column(String(254))
    # PEM roots to trust for the relay's TLS; None: the system's.
    ca_bundle_pem: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime]
    updated_by: Mapped[str] = mapped_column(String(200))


def table(model: type[Base]) -> Table:
    """The Core table of a model, for bulk statements that skip the ORM."""
    return Base.metadata.tables[model.__tablename__]
