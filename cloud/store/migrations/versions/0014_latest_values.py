"""Latest values per series and days with data per patient, for the population page,
filled from the record as it stands (cloud.store.latest keeps them current afterwards).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cloud.store.types import UtcDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# The two greatest usable readings of each series by (ts, gateway_id, id), ids by code point.
_BACKFILL_LATEST = """
WITH ranked AS (
    SELECT patient_id, metric, ts, value, gateway_id, id,
           row_number() OVER (PARTITION BY patient_id, metric
                              ORDER BY ts DESC, gateway_id {c} DESC, id {c} DESC) AS n
    FROM readings WHERE usable
)
INSERT INTO latest_values (patient_id, metric, ts, value, gateway_id, reading_id,
                           prev_ts, prev_value, prev_gateway_id, prev_reading_id)
SELECT a.patient_id, a.metric, a.ts, a.value, a.gateway_id, a.id,
       b.ts, b.value, b.gateway_id, b.id
FROM ranked AS a
LEFT JOIN ranked AS b ON b.patient_id = a.patient_id AND b.metric = a.metric AND b.n = 2
WHERE a.n = 1
"""
# The daily rollups already say which days have usable readings (battery: a device metric).
_BACKFILL_DAYS = """
INSERT INTO data_days (start, patient_id)
SELECT DISTINCT start, patient_id FROM reading_rollups
WHERE period = 'day' AND metric <> 'battery_level'
"""


def upgrade() -> None:
    op.create_table(
        "latest_values",
        sa.Column("patient_id", sa.String(128), primary_key=True),
        sa.Column("metric", sa.String(32), primary_key=True),
        sa.Column("ts", UtcDateTime(), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("gateway_id", sa.String(128), nullable=False),
        sa.Column("reading_id", sa.String(160), nullable=False),
        sa.Column("prev_ts", UtcDateTime()),
        sa.Column("prev_value", sa.Float),
        sa.Column("prev_gateway_id", sa.String(128)),
        sa.Column("prev_reading_id", sa.String(160)),
    )
    op.create_table(
        "data_days",
        sa.Column("start", UtcDateTime(), primary_key=True),
        sa.Column("patient_id", sa.String(128), primary_key=True),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    op.execute(_BACKFILL_LATEST.format(c='COLLATE "C"' if postgres else ""))
    op.execute(_BACKFILL_DAYS)
    if postgres:  # statistics for the planner now, not at autovacuum's next round
        op.execute("ANALYZE latest_values")
        op.execute("ANALYZE data_days")


def downgrade() -> None:
    op.drop_table("data_days")
    op.drop_table("latest_values")
