"""Patient preferences (language, time zone, quiet hours, daily cap) and scheduled patient
messages: the kind of an outbound message and the rating of an inbound answer.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cloud.store.types import UtcDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "patient_preferences",
        sa.Column(
            "patient_id",
            sa.String(128),
            sa.ForeignKey("patients.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("quiet_start", sa.Time, nullable=False),
        sa.Column("quiet_end", sa.Time, nullable=False),
        sa.Column("daily_cap", sa.Integer, nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("updated_by", sa.Integer),
    )
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("kind", sa.String(24)))
        batch.add_column(sa.Column("rating", sa.Integer))
    op.create_index("ix_messages_patient_kind_at", "messages", ["patient_id", "kind", "at"])


def downgrade() -> None:
    op.drop_index("ix_messages_patient_kind_at", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("rating")
        batch.drop_column("kind")
    op.drop_table("patient_preferences")
