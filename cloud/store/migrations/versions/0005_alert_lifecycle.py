"""Alert lifecycle: acknowledgement, snooze, assignment and escalation on alerts; the alert
history; escalation chains; contacts; the message thread and the worklist. Deliveries may
carry a message to a patient instead of an alert.

Alerts opened before this revision keep an empty ``escalation_started_at``: the scheduler
leaves them alone (an upgrade must not page everyone about old alerts); ``/escalate`` still
works on them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cloud.store.types import UtcDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("acknowledged_at", UtcDateTime()))
        batch.add_column(sa.Column("acknowledged_by", sa.Integer))
        batch.add_column(sa.Column("snoozed_until", UtcDateTime()))
        batch.add_column(sa.Column("assigned_to", sa.Integer))
        batch.add_column(
            sa.Column("escalation_step", sa.Integer, nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("escalation_started_at", UtcDateTime()))
    with op.batch_alter_table("alerts") as batch:
        batch.alter_column("escalation_step", server_default=None)
    op.create_table(
        "alert_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "alert_id",
            sa.Integer,
            sa.ForeignKey("alerts.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("actor_user_id", sa.Integer),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_index("ix_alert_events_alert_at", "alert_events", ["alert_id", "at"])
    op.create_table(
        "escalation_chains",
        sa.Column(
            "organisation_id",
            sa.String(64),
            sa.ForeignKey("organisations.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("priority", sa.String(8), primary_key=True),
        sa.Column("steps", sa.JSON, nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("updated_by", sa.Integer),
    )
    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "organisation_id",
            sa.String(64),
            sa.ForeignKey("organisations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE")),
        sa.Column("patient_id", sa.String(128), sa.ForeignKey("patients.id", ondelete="CASCADE")),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("address", sa.String(254), nullable=False),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("opted_out", sa.Boolean, nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_contacts_organisation_id", "contacts", ["organisation_id"])
    op.create_index("ix_contacts_user_id", "contacts", ["user_id"])
    op.create_index("ix_contacts_patient_id", "contacts", ["patient_id"])
    op.create_index("ix_contacts_kind_address", "contacts", ["kind", "address"])
    op.create_table(
        "messages",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("organisation_id", sa.String(64)),
        sa.Column("patient_id", sa.String(128)),
        sa.Column("user_id", sa.Integer),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("address", sa.String(254), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("intent", sa.String(16)),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("alert_id", sa.Integer, sa.ForeignKey("alerts.id", ondelete="SET NULL")),
        sa.Column("provider_id", sa.String(128)),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("provider_id", name="uq_messages_provider_id"),
    )
    op.create_index("ix_messages_organisation_id", "messages", ["organisation_id"])
    op.create_index("ix_messages_patient_at", "messages", ["patient_id", "at"])
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("user_id", sa.Integer))
        batch.add_column(sa.Column("step", sa.Integer))
        batch.add_column(sa.Column("message_id", sa.Integer))
        batch.create_foreign_key(
            "fk_deliveries_message_id", "messages", ["message_id"], ["id"], ondelete="CASCADE"
        )
        batch.alter_column("alert_id", existing_type=sa.Integer, nullable=True)
    op.create_table(
        "tasks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "organisation_id",
            sa.String(64),
            sa.ForeignKey("organisations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "patient_id",
            sa.String(128),
            sa.ForeignKey("patients.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("alert_id", sa.Integer, sa.ForeignKey("alerts.id", ondelete="SET NULL")),
        sa.Column("message_id", sa.Integer, sa.ForeignKey("messages.id", ondelete="SET NULL")),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("done_at", UtcDateTime()),
        sa.Column("done_by", sa.Integer),
        sa.Column("note", sa.Text),
    )
    op.create_index("ix_tasks_org_status", "tasks", ["organisation_id", "status", "created_at"])


def downgrade() -> None:
    op.execute("DELETE FROM deliveries WHERE alert_id IS NULL")
    with op.batch_alter_table("deliveries") as batch:
        batch.alter_column("alert_id", existing_type=sa.Integer, nullable=False)
        batch.drop_constraint("fk_deliveries_message_id", type_="foreignkey")
        batch.drop_column("message_id")
        batch.drop_column("step")
        batch.drop_column("user_id")
    for table in ("tasks", "messages", "contacts", "escalation_chains", "alert_events"):
        op.drop_table(table)
    with op.batch_alter_table("alerts") as batch:
        for column in (
            "escalation_started_at",
            "escalation_step",
            "assigned_to",
            "snoozed_until",
            "acknowledged_by",
            "acknowledged_at",
        ):
            batch.drop_column(column)
