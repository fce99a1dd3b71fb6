"""Renewal scheduling state for managed certificates, and the mail relay.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 22:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("managed_certificates") as batch:
        batch.add_column(
            sa.Column(
                "rate_limited", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch.add_column(sa.Column("renewing_since", _WHEN, nullable=True))
        batch.add_column(
            sa.Column(
                "jitter_fraction", sa.Float(), nullable=False, server_default="0.5"
            )
        )
        batch.add_column(sa.Column("renewal_window_start", _WHEN, nullable=True))
        batch.add_column(sa.Column("renewal_window_end", _WHEN, nullable=True))
        batch.add_column(sa.Column("renewal_explanation_url", sa.Text(), nullable=True))
        batch.add_column(sa.Column("renewal_info_next_check_at", _WHEN, nullable=True))
        batch.add_column(
            sa.Column("superseded_certificate_id", sa.Integer(), nullable=True)
        )
        batch.add_column(sa.Column("superseded_at", _WHEN, nullable=True))
        batch.create_foreign_key(
            op.f("fk_managed_certificates_superseded_certificate_id_certificates"),
            "certificates",
            ["superseded_certificate_id"],
            ["id"],
            ondelete="SET NULL",
        )

    op.create_table(
        "smtp_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("security", sa.String(length=16), nullable=False),
        sa.Column("username", sa.String(length=255), nullable=True),
        sa.Column("password_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("from_address", sa.String(length=254), nullable=False),
        sa.Column("ca_bundle_pem", sa.Text(), nullable=True),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_smtp_settings")),
    )


def downgrade() -> None:
    op.drop_table("smtp_settings")
    with op.batch_alter_table("managed_certificates") as batch:
        batch.drop_constraint(
            op.f("fk_managed_certificates_superseded_certificate_id_certificates"),
            type_="foreignkey",
        )
        for column in (
            "superseded_at",
            "superseded_certificate_id",
            "renewal_info_next_check_at",
            "renewal_explanation_url",
            "renewal_window_end",
            "renewal_window_start",
            "jitter_fraction",
            "renewing_since",
            "rate_limited",
        ):
            batch.drop_column(column)
