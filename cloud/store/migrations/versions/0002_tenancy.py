"""Tenancy and access: organisations, programs, patients, users, care teams, devices,
pairings, refresh tokens and the append-only audit log; gateways gain an organisation.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cloud.store.types import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The programs as this revision seeds them (a later change to the code's defaults is a new
# revision, so the history of what a program meant stays in the migrations).
PROGRAMS = {
    "heart_failure": (
        "Heart failure",
        {
            "heart_rate": {"high": 120.0, "low": 40.0},
            "systolic_bp": {"high": 160.0, "low": 90.0},
            "spo2": {"low": 90.0},
            "body_weight": {"gain_kg_2d": 2.0},
        },
    ),
    "copd": (
        "COPD",
        {
            "spo2": {"low": 88.0},
            "respiratory_rate": {"high": 24.0, "low": 9.0},
            "heart_rate": {"high": 120.0, "low": 40.0},
        },
    ),
    "hypertension": (
        "Hypertension",
        {
            "systolic_bp": {"high": 180.0, "low": 90.0},
            "diastolic_bp": {"high": 120.0, "low": 50.0},
        },
    ),
    "diabetes": ("Diabetes", {"blood_glucose": {"high": 250.0, "low": 70.0}}),
    "general": (
        "General monitoring",
        {"heart_rate": {"high": 120.0, "low": 40.0}, "spo2": {"low": 92.0}},
    ),
}

APPEND_ONLY_SQLITE = [
    f"""CREATE TRIGGER audit_events_no_{verb} BEFORE {verb.upper()} ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"""
    for verb in ("update", "delete")
]
APPEND_ONLY_POSTGRES = [
    """CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'audit_events is append-only'; END $$""",
    """CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()""",
    """CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()""",
]


def _org_fk(ondelete: str = "RESTRICT") -> sa.ForeignKey:
    return sa.ForeignKey("organisations.id", ondelete=ondelete)


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("retention_days", sa.Integer),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    programs = op.create_table(
        "programs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("thresholds", sa.JSON, nullable=False),
    )
    op.bulk_insert(
        programs,
        [{"id": k, "name": name, "thresholds": t} for k, (name, t) in PROGRAMS.items()],
    )
    op.create_table(
        "patients",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("organisation_id", sa.String(64), _org_fk(), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("program_id", sa.String(32), sa.ForeignKey("programs.id")),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_patients_organisation_id", "patients", ["organisation_id"])
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("organisation_id", sa.String(64), _org_fk(), nullable=False),
        sa.Column("email", sa.String(254), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("patient_id", sa.String(128), sa.ForeignKey("patients.id", ondelete="CASCADE")),
        sa.Column("is_active", sa.Boolean, nullable=False),
        sa.Column("failed_logins", sa.Integer, nullable=False),
        sa.Column("locked_until", UtcDateTime()),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_users_organisation_id", "users", ["organisation_id"])
    op.create_table(
        "care_team_members",
        sa.Column(
            "patient_id",
            sa.String(128),
            sa.ForeignKey("patients.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("team_role", sa.String(64), nullable=False),
        sa.Column("added_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_care_team_members_user_id", "care_team_members", ["user_id"])
    with op.batch_alter_table("gateways") as batch:
        batch.add_column(sa.Column("organisation_id", sa.String(64)))
        batch.create_foreign_key(
            "fk_gateways_organisation_id",
            "organisations",
            ["organisation_id"],
            ["id"],
            ondelete="RESTRICT",
        )
        batch.create_index("ix_gateways_organisation_id", ["organisation_id"])
        batch.alter_column("last_seen", existing_type=UtcDateTime(), nullable=True)
    op.create_table(
        "devices",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("organisation_id", sa.String(64), _org_fk(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("address", sa.String(64)),
        sa.Column("gateway_id", sa.String(128), sa.ForeignKey("gateways.id", ondelete="SET NULL")),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_devices_organisation_id", "devices", ["organisation_id"])
    op.create_table(
        "pairings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("organisation_id", sa.String(64), _org_fk(), nullable=False),
        sa.Column(
            "device_id",
            sa.String(128),
            sa.ForeignKey("devices.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "patient_id",
            sa.String(128),
            sa.ForeignKey("patients.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("valid_from", UtcDateTime(), nullable=False),
        sa.Column("valid_to", UtcDateTime()),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_pairings_organisation_id", "pairings", ["organisation_id"])
    op.create_index("ix_pairings_device_from", "pairings", ["device_id", "valid_from"])
    op.create_table(
        "refresh_tokens",
        sa.Column("jti", sa.String(64), primary_key=True),
        sa.Column(
            "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("used_at", UtcDateTime()),
    )
    op.create_index("ix_refresh_tokens_user_id", "refresh_tokens", ["user_id"])
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("user_id", sa.Integer),
        sa.Column("organisation_id", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("resource", sa.String(200), nullable=False),
        sa.Column("patient_id", sa.String(128)),
        sa.Column("query", sa.Text, nullable=False),
        sa.Column("client", sa.String(64)),
        sa.Column("outcome", sa.Integer, nullable=False),
    )
    op.create_index("ix_audit_org_at", "audit_events", ["organisation_id", "at"])
    op.create_index("ix_audit_patient_at", "audit_events", ["patient_id", "at"])
    dialect = op.get_bind().dialect.name
    for statement in APPEND_ONLY_POSTGRES if dialect == "postgresql" else APPEND_ONLY_SQLITE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TABLE audit_events")
        op.execute("DROP FUNCTION audit_events_append_only()")
    else:
        op.drop_table("audit_events")
    for table in ("refresh_tokens", "pairings", "devices"):
        op.drop_table(table)
    with op.batch_alter_table("gateways") as batch:
        batch.drop_index("ix_gateways_organisation_id")
        batch.drop_constraint("fk_gateways_organisation_id", type_="foreignkey")
        batch.drop_column("organisation_id")
        batch.alter_column("last_seen", existing_type=UtcDateTime(), nullable=False)
    for table in ("care_team_members", "users", "patients", "programs", "organisations"):
        op.drop_table(table)
