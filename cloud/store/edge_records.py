"""What gateways report besides readings: edge events and per-minute rollups, stored as sent.

Both are keyed by the gateway-made id, so a repeated delivery (MQTT is at least once, and
the gateway re-sends until the cloud acknowledges) is stored once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Float, Index, Integer, String
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from cloud.store.base import ID, WIRE_ID, Base
from gateway import wire


class EdgeEvent(Base):
    """An edge-detected alert, all-clear or device event (``vg.events/1``)."""

    __tablename__ = "edge_events"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    gateway_id: Mapped[str] = mapped_column(WIRE_ID)
    kind: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(16))
    ts: Mapped[datetime]
    patient_id: Mapped[str | None] = mapped_column(WIRE_ID)
    device_id: Mapped[str | None] = mapped_column(WIRE_ID)
    rule: Mapped[str | None] = mapped_column(String(128))
    rule_version: Mapped[int | None] = mapped_column(Integer)
    priority: Mapped[str | None] = mapped_column(String(8))
    metric: Mapped[str | None] = mapped_column(String(32))
    value: Mapped[float | None] = mapped_column(Float)
    code: Mapped[str | None] = mapped_column(String(64))
    evidence: Mapped[dict[str, Any]]
    received_at: Mapped[datetime]
    alert_id: Mapped[int | None] = mapped_column(Integer)
    """The alert it opened, merged into or resolved, if any."""

    __table_args__ = (Index("ix_edge_events_patient_ts", "patient_id", "ts"),)


class EdgeRollup(Base):
    """A per-minute aggregate of a continuous stream as the gateway computed it."""

    __tablename__ = "edge_rollups"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    gateway_id: Mapped[str] = mapped_column(WIRE_ID)
    patient_id: Mapped[str] = mapped_column(WIRE_ID)
    device_id: Mapped[str] = mapped_column(WIRE_ID)
    metric: Mapped[str] = mapped_column(String(32))
    start: Mapped[datetime]
    end: Mapped[datetime]
    count: Mapped[int] = mapped_column(Integer)
    min: Mapped[float] = mapped_column(Float)
    max: Mapped[float] = mapped_column(Float)
    mean: Mapped[float] = mapped_column(Float)
    median: Mapped[float | None] = mapped_column(Float)
    last: Mapped[float] = mapped_column(Float)
    rejected: Mapped[int] = mapped_column(Integer)
    hrv: Mapped[dict[str, Any] | None]
    received_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_edge_rollups_patient_metric_start", "patient_id", "metric", "start"),
    )


def insert_new(
    session: Session, model: type[EdgeEvent] | type[EdgeRollup], rows: Sequence[dict[str, Any]]
) -> set[str]:
    """Insert rows whose id is new; the ids actually inserted (a repeat changes nothing)."""
    if not rows:
        return set()
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(model).on_conflict_do_nothing(index_elements=["id"]).returning(model.id)
    unique = list({row["id"]: row for row in rows}.values())
    inserted: set[str] = set()
    for start in range(0, len(unique), 1000):
        inserted.update(session.scalars(stmt, unique[start : start + 1000]).all())
    return inserted


def event_row(event: wire.Event, *, gateway_id: str, received_at: datetime) -> dict[str, Any]:
    return {
        "id": event.id,
        "gateway_id": gateway_id,
        "kind": event.kind.value,
        "category": event.category.value,
        "ts": event.ts,
        "patient_id": event.patient_id,
        "device_id": event.device_id,
        "rule": event.rule,
        "rule_version": event.rule_version,
        "priority": event.priority.value if event.priority else None,
        "metric": event.metric.value if event.metric else None,
        "value": event.value,
        "code": event.code,
        "evidence": event.evidence,
        "received_at": received_at,
        "alert_id": None,
    }


def rollup_row(rollup: wire.Rollup, *, gateway_id: str, received_at: datetime) -> dict[str, Any]:
    return {
        "id": rollup.id,
        "gateway_id": gateway_id,
        "patient_id": rollup.patient_id,
        "device_id": rollup.device_id,
        "metric": rollup.metric.value,
        "start": rollup.start,
        "end": rollup.end,
        "count": rollup.count,
        "min": rollup.min,
        "max": rollup.max,
        "mean": rollup.mean,
        "median": rollup.median,
        "last": rollup.last,
        "rejected": rollup.rejected,
        "hrv": rollup.hrv.model_dump(mode="json") if rollup.hrv else None,
        "received_at": received_at,
    }
