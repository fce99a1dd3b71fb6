"""ACME accounts (one per directory) and the certificates the appliance manages.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 10:02:11.402818
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "acme_accounts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("directory_url", sa.String(length=2000), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("account_url", sa.String(length=2000), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("eab_kid", sa.String(length=255), nullable=True),
        sa.Column("ca_bundle_pem", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["keys.id"],
            name=op.f("fk_acme_accounts_key_id_keys"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acme_accounts")),
        sa.UniqueConstraint(
            "directory_url", name=op.f("uq_acme_accounts_directory_url")
        ),
    )

    op.create_table(
        "managed_certificates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("identifiers", sa.JSON(), nullable=False),
        sa.Column("key_type", sa.String(length=16), nullable=False),
        sa.Column("reuse_key", sa.Boolean(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("renew_before_days", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("next_renewal_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_renewal_reason", sa.Text(), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("retry_not_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lock_owner", sa.String(length=200), nullable=True),
        sa.Column("lock_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificates.id"],
            name=op.f("fk_managed_certificates_certificate_id_certificates"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["acme_accounts.id"],
            name=op.f("fk_managed_certificates_account_id_acme_accounts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_managed_certificates")),
        sa.UniqueConstraint(
            "certificate_id", name=op.f("uq_managed_certificates_certificate_id")
        ),
    )
    with op.batch_alter_table("managed_certificates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_managed_certificates_account_id"),
            ["account_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_managed_certificates_next_renewal_at"),
            ["next_renewal_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("managed_certificates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_managed_certificates_next_renewal_at"))
        batch_op.drop_index(batch_op.f("ix_managed_certificates_account_id"))

    op.drop_table("managed_certificates")
    op.drop_table("acme_accounts")
