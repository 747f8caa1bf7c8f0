"""Patient tags: the care team's own labels, to filter the population by.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "patient_tags",
        sa.Column(
            "patient_id",
            sa.String(128),
            sa.ForeignKey("patients.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("tag", sa.String(32), primary_key=True),
    )
    op.create_index("ix_patient_tags_tag", "patient_tags", ["tag"])


def downgrade() -> None:
    op.drop_index("ix_patient_tags_tag", table_name="patient_tags")
    op.drop_table("patient_tags")
