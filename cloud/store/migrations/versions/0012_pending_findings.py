"""Pending findings: fires held for a confirming re-measurement, and what became of them.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cloud.store.types import UtcDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pending_findings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("finding_id", sa.String(160), nullable=False, unique=True),
        sa.Column("patient_id", sa.String(128), nullable=False),
        sa.Column("rule_id", sa.String(128), nullable=False),
        sa.Column("rule_version", sa.Integer, nullable=False),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("priority", sa.String(8), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("ts", UtcDateTime(), nullable=False),
        sa.Column("deadline", UtcDateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("held_at", UtcDateTime(), nullable=False),
        sa.Column("decided_at", UtcDateTime()),
        sa.Column("alert_id", sa.Integer),
        sa.Column("finding", sa.JSON, nullable=False),
    )
    op.create_index(
        "ix_pending_patient_metric_status", "pending_findings", ["patient_id", "metric", "status"]
    )
    op.create_index("ix_pending_status_deadline", "pending_findings", ["status", "deadline"])


def downgrade() -> None:
    op.drop_index("ix_pending_status_deadline", table_name="pending_findings")
    op.drop_index("ix_pending_patient_metric_status", table_name="pending_findings")
    op.drop_table("pending_findings")
