"""Token revocation and webhook replay refusal: a token generation per user (log-out and a
reused refresh token revoke every token, access tokens included) and the webhook signatures
seen within the timestamp tolerance.

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cloud.store.types import UtcDateTime

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("token_generation", sa.Integer, nullable=False, server_default="0")
        )
    op.create_table(
        "webhook_signatures",
        sa.Column("signature", sa.String(64), primary_key=True),
        sa.Column("seen_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_webhook_signatures_seen_at", "webhook_signatures", ["seen_at"])


def downgrade() -> None:
    op.drop_index("ix_webhook_signatures_seen_at", table_name="webhook_signatures")
    op.drop_table("webhook_signatures")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("token_generation")
