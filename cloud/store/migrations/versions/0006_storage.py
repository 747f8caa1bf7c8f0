"""Storage: the readings' commit sequence and the time-series sink's bookkeeping.

``readings.seq`` orders readings for the sink (``cloud.store.marks``): on PostgreSQL it
defaults to the writing transaction's id; on SQLite ``upsert_readings`` numbers readings
from ``reading_sequence``. Readings stored before this revision are numbered here, so the
sink writes them once too.

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cloud.store.types import UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    default = sa.text("(pg_current_xact_id()::text::bigint)") if postgres else None
    with op.batch_alter_table("readings") as batch:
        batch.add_column(sa.Column("seq", sa.BigInteger, server_default=default))
        batch.create_index("ix_readings_seq_id", ["seq", "id"])
    sequence = op.create_table(
        "reading_sequence",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(sequence, [{"id": 1, "value": 0}])
    if not postgres:
        op.execute("UPDATE readings SET seq = rowid")
        op.execute(
            "UPDATE reading_sequence SET value = (SELECT coalesce(max(seq), 0) FROM readings)"
        )
    op.create_table(
        "sink_marks",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("reading_id", sa.String(160), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "pending_series_deletions",
        sa.Column("patient_id", sa.String(128), primary_key=True),
        sa.Column("requested_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("pending_series_deletions")
    op.drop_table("sink_marks")
    op.drop_table("reading_sequence")
    with op.batch_alter_table("readings") as batch:
        batch.drop_index("ix_readings_seq_id")
        batch.drop_column("seq")
