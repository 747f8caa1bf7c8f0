"""Quarantined readings: stored, not attributed, with the reason.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cloud.store.types import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quarantined_readings",
        sa.Column("id", sa.String(160), primary_key=True),
        sa.Column("organisation_id", sa.String(64)),
        sa.Column("gateway_id", sa.String(128), nullable=False),
        sa.Column("patient_id", sa.String(128), nullable=False),
        sa.Column("device_id", sa.String(128), nullable=False),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.Column("ts", UtcDateTime(), nullable=False),
        sa.Column("measurement_id", sa.String(160)),
        sa.Column("usable", sa.Boolean, nullable=False),
        sa.Column("quality", sa.JSON, nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_index(
        "ix_quarantine_org_received", "quarantined_readings", ["organisation_id", "received_at"]
    )


def downgrade() -> None:
    op.drop_table("quarantined_readings")
