"""Readings kept aside, not attributed to any patient: the reason says why.

A reading lands here when the gateway that sent it is not registered or is revoked, when
the patient or device it names is not its organisation's, when the device was not paired
to that patient at the time it was taken, when its time stamp is far in the future or the
past (a gateway clock gone wrong), or when it repeats a reading id of the same gateway
with other content (``conflict``). It is stored, so nothing is lost and the batch is
acknowledged, but no chart, trend or alert sees it. Keyed like readings, by
``(gateway_id, id)``: the first version of a conflicting id is kept here, later ones are
counted (``vitalgate_ingest_conflicts_total``) and logged.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, Index, PrimaryKeyConstraint, String, Text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from cloud.store.base import ID, WIRE_ID, Base


class QuarantinedReading(Base):
    __tablename__ = "quarantined_readings"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    organisation_id: Mapped[str | None] = mapped_column(String(64))
    """The organisation of the gateway that sent it, if the gateway is provisioned."""
    gateway_id: Mapped[str] = mapped_column(WIRE_ID, primary_key=True)
    patient_id: Mapped[str] = mapped_column(WIRE_ID)
    """The patient the gateway named (not trusted: that is why it is here)."""
    device_id: Mapped[str] = mapped_column(WIRE_ID)
    metric: Mapped[str] = mapped_column(String(32))
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16))
    ts: Mapped[datetime]
    measurement_id: Mapped[str | None] = mapped_column(ID)
    usable: Mapped[bool] = mapped_column(Boolean)
    quality: Mapped[dict[str, Any]]
    received_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        PrimaryKeyConstraint("gateway_id", "id", name="quarantined_readings_pkey"),
        Index("ix_quarantine_org_received", "organisation_id", "received_at"),
    )


def quarantine(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Keep rows (reading rows plus ``reason`` and ``organisation_id``) once each."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(QuarantinedReading).on_conflict_do_nothing(index_elements=["gateway_id", "id"])
    unique = list({(row["gateway_id"], row["id"]): row for row in rows}.values())
    for start in range(0, len(unique), 1000):
        session.execute(stmt, unique[start : start + 1000])
    return len(unique)
