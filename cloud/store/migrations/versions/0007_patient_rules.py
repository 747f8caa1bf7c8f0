"""Per-patient rules (versioned), shadow findings, issued gateway configs, edge events and
rollups, clinician time entries; the programs' threshold summary now follows
``gateway.signal.programs``.

Revision ID: 0007
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cloud.store.types import UtcDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "patient_rule_sets",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "patient_id",
            sa.String(128),
            sa.ForeignKey("patients.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("organisation_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("overrides", sa.JSON, nullable=False),
        sa.Column("rule_versions", sa.JSON, nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("created_by", sa.Integer),
        sa.UniqueConstraint("patient_id", "version", name="uq_rule_sets_version"),
    )
    op.create_table(
        "shadow_findings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("finding_id", sa.String(160), nullable=False, unique=True),
        sa.Column("patient_id", sa.String(128), nullable=False),
        sa.Column("rule_id", sa.String(128), nullable=False),
        sa.Column("rule_version", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("priority", sa.String(8), nullable=False),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("ts", UtcDateTime(), nullable=False),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
        sa.Column("evidence", sa.JSON, nullable=False),
    )
    op.create_index("ix_shadow_patient_ts", "shadow_findings", ["patient_id", "ts"])
    op.create_table(
        "gateway_configs",
        sa.Column(
            "gateway_id",
            sa.String(128),
            sa.ForeignKey("gateways.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("issued_at", UtcDateTime(), nullable=False),
        sa.Column("published_version", sa.Integer, nullable=False),
        sa.Column("published_at", UtcDateTime()),
    )
    op.create_table(
        "edge_events",
        sa.Column("id", sa.String(160), primary_key=True),
        sa.Column("gateway_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("ts", UtcDateTime(), nullable=False),
        sa.Column("patient_id", sa.String(128)),
        sa.Column("device_id", sa.String(128)),
        sa.Column("rule", sa.String(128)),
        sa.Column("rule_version", sa.Integer),
        sa.Column("priority", sa.String(8)),
        sa.Column("metric", sa.String(32)),
        sa.Column("value", sa.Float),
        sa.Column("code", sa.String(64)),
        sa.Column("evidence", sa.JSON, nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("alert_id", sa.Integer),
    )
    op.create_index("ix_edge_events_patient_ts", "edge_events", ["patient_id", "ts"])
    op.create_table(
        "edge_rollups",
        sa.Column("id", sa.String(160), primary_key=True),
        sa.Column("gateway_id", sa.String(128), nullable=False),
        sa.Column("patient_id", sa.String(128), nullable=False),
        sa.Column("device_id", sa.String(128), nullable=False),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("start", UtcDateTime(), nullable=False),
        sa.Column("end", UtcDateTime(), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("min", sa.Float, nullable=False),
        sa.Column("max", sa.Float, nullable=False),
        sa.Column("mean", sa.Float, nullable=False),
        sa.Column("median", sa.Float),
        sa.Column("last", sa.Float, nullable=False),
        sa.Column("rejected", sa.Integer, nullable=False),
        sa.Column("hrv", sa.JSON),
        sa.Column("received_at", UtcDateTime(), nullable=False),
    )
    op.create_index(
        "ix_edge_rollups_patient_metric_start", "edge_rollups", ["patient_id", "metric", "start"]
    )
    op.create_table(
        "time_entries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("organisation_id", sa.String(64), nullable=False),
        sa.Column(
            "patient_id",
            sa.String(128),
            sa.ForeignKey("patients.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("minutes", sa.Integer, nullable=False),
        sa.Column("interactive", sa.Boolean, nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_time_entries_org_at", "time_entries", ["organisation_id", "at"])
    _refresh_program_summaries()


def _refresh_program_summaries() -> None:
    """The summary shown for each program, derived from the rules the code evaluates."""
    from cloud.tenancy.programs import PROGRAMS  # noqa: PLC0415 - the code's rules at upgrade time

    programs = sa.table(
        "programs",
        sa.column("id", sa.String),
        sa.column("name", sa.String),
        sa.column("thresholds", sa.JSON),
    )
    for program_id, (name, thresholds) in PROGRAMS.items():
        op.execute(
            programs.update()
            .where(programs.c.id == program_id)
            .values(name=name, thresholds=thresholds)
        )


def downgrade() -> None:
    for table in (
        "time_entries",
        "edge_rollups",
        "edge_events",
        "gateway_configs",
        "shadow_findings",
        "patient_rule_sets",
    ):
        op.drop_table(table)
