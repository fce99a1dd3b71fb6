"""Sign-in failures counted per (client, user name), no longer on the user row.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 23:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sign_in_throttle",
        sa.Column("key_sha256", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failed_at", _WHEN, nullable=True),
        sa.Column("locked_until", _WHEN, nullable=True),
        sa.PrimaryKeyConstraint("key_sha256", name=op.f("pk_sign_in_throttle")),
    )
    with op.batch_alter_table("sign_in_throttle") as batch:
        batch.create_index(
            batch.f("ix_sign_in_throttle_username"), ["username"], unique=False
        )
        batch.create_index(
            batch.f("ix_sign_in_throttle_last_failed_at"),
            ["last_failed_at"],
            unique=False,
        )

    # The per-account counters are not carried over: they belonged to no
    # client, and an account locked by them would stay locked for everyone.
    with op.batch_alter_table("users") as batch:
        for column in ("locked_until", "last_failed_at", "failed_logins"):
            batch.drop_column(column)


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("last_failed_at", _WHEN, nullable=True))
        batch.add_column(sa.Column("locked_until", _WHEN, nullable=True))
    with op.batch_alter_table("sign_in_throttle") as batch:
        batch.drop_index(batch.f("ix_sign_in_throttle_last_failed_at"))
        batch.drop_index(batch.f("ix_sign_in_throttle_username"))
    op.drop_table("sign_in_throttle")
