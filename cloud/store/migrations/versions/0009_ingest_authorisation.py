"""Ingest authorisation: gateways can be revoked, and reading ids are scoped to the gateway.

* ``gateways.revoked_at``: set by ``vitalgate-cloud gateway revoke``; the ingest worker
  refuses every message of a revoked gateway from then on.
* ``readings`` and ``quarantined_readings`` are keyed by ``(gateway_id, id)``: a reading id
  is the sending gateway's, so no other gateway can take it first (docs/architecture.md,
  ingest). Existing rows keep their ids; the keys only widen.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cloud.store.types import UtcDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_KEYED = ("readings", "quarantined_readings")


def _primary_key(table: str, columns: list[str]) -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {table}_pkey")
        op.create_primary_key(f"{table}_pkey", table, columns)
        return
    # SQLite cannot alter a key: batch mode copies the table into one built here, from the
    # reflected table with the new key (columns, defaults and indexes as they are).
    old = sa.Table(table, sa.MetaData(), autoload_with=bind)
    new = sa.Table(
        table,
        sa.MetaData(),
        *[
            sa.Column(
                c.name,
                c.type,
                nullable=c.nullable and c.name not in columns,
                server_default=c.server_default,
                primary_key=c.name in columns,
            )
            for c in old.columns
        ],
        sa.PrimaryKeyConstraint(*columns, name=f"{table}_pkey"),
        *[sa.Index(i.name, *[c.name for c in i.columns]) for i in old.indexes],
    )
    with op.batch_alter_table(table, copy_from=new, recreate="always"):
        pass


def upgrade() -> None:
    with op.batch_alter_table("gateways") as batch:
        batch.add_column(sa.Column("revoked_at", UtcDateTime(), nullable=True))
    for table in _KEYED:
        _primary_key(table, ["gateway_id", "id"])


def downgrade() -> None:
    # Rows of two gateways that share an id would collide under the old key: keep one each.
    for table in _KEYED:
        if op.get_bind().dialect.name == "postgresql":
            op.execute(
                f"DELETE FROM {table} a USING {table} b "  # noqa: S608 - fixed table names
                "WHERE a.id = b.id AND a.gateway_id > b.gateway_id"
            )
        else:
            op.execute(
                f"DELETE FROM {table} WHERE rowid NOT IN "  # noqa: S608 - fixed table names
                f"(SELECT min(rowid) FROM {table} GROUP BY id)"
            )
        _primary_key(table, ["id"])
    with op.batch_alter_table("gateways") as batch:
        batch.drop_column("revoked_at")
