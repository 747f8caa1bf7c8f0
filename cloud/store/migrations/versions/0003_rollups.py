"""Hourly and daily rollups of readings per patient and metric.

Readings stored before this revision are not rolled up (no deployment holds any yet);
ingest keeps the rollups current from here on.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cloud.store.types import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reading_rollups",
        sa.Column("patient_id", sa.String(128), primary_key=True),
        sa.Column("metric", sa.String(32), primary_key=True),
        sa.Column("period", sa.String(8), primary_key=True),
        sa.Column("start", UtcDateTime(), primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("total", sa.Float, nullable=False),
        sa.Column("min", sa.Float, nullable=False),
        sa.Column("min_ts", UtcDateTime(), nullable=False),
        sa.Column("max", sa.Float, nullable=False),
        sa.Column("max_ts", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("reading_rollups")
