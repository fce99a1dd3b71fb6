"""HTTP-01 challenge tokens, kept in the store so that any node can answer.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 20:09:18.888702
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "acme_challenges",
        sa.Column("token", sa.String(length=255), nullable=False),
        sa.Column("key_authorization", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_acme_challenges")),
    )


def downgrade() -> None:
    op.drop_table("acme_challenges")
