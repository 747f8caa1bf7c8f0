"""Writing and reading the record of readings (idempotent on reading id)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cloud.store.marks import next_seqs
from cloud.store.models import Reading
from gateway import wire


def reading_row(r: wire.Reading, *, gateway_id: str, received_at: datetime) -> dict[str, Any]:
    return {
        "id": r.id,
        "gateway_id": gateway_id,
        "patient_id": r.patient_id,
        "device_id": r.device_id,
        "metric": r.metric.value,
        "value": r.value,
        "unit": r.unit,
        "ts": r.ts,
        "measurement_id": r.measurement_id,
        "usable": r.quality.usable,
        "quality": r.quality.model_dump(mode="json", exclude_none=True),
        "received_at": received_at,
    }


def wire_reading(row: Reading) -> wire.Reading:
    """A stored reading as the gateway sent it (what replays and exports work on)."""
    return wire.Reading(
        id=row.id,
        patient_id=row.patient_id,
        device_id=row.device_id,
        metric=wire.Metric(row.metric),
        value=row.value,
        unit=row.unit,
        ts=row.ts,
        measurement_id=row.measurement_id,
        quality=wire.Quality.model_validate({**row.quality, "usable": row.usable}),
    )


def upsert_readings(session: Session, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Insert rows whose id is new; return the ids actually inserted (repeats are skipped)."""
    if not rows:
        return set()
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(Reading).on_conflict_do_nothing(index_elements=["id"]).returning(Reading.id)
    inserted: set[str] = set()
    # Readings repeated inside one statement would trip ON CONFLICT on PostgreSQL.
    unique = list({row["id"]: row for row in rows}.values())
    if dialect != "postgresql":  # there the column defaults to the transaction id
        first = next_seqs(session, len(unique))
        unique = [{**row, "seq": first + i} for i, row in enumerate(unique)]
    for start in range(0, len(unique), 1000):
        inserted.update(session.scalars(stmt, unique[start : start + 1000]).all())
    return inserted


def readings_query(
    *,
    patient_id: str | None = None,
    metric: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Select[Reading]:
    stmt = select(Reading)
    if patient_id is not None:
        stmt = stmt.where(Reading.patient_id == patient_id)
    if metric is not None:
        stmt = stmt.where(Reading.metric == metric)
    if since is not None:
        stmt = stmt.where(Reading.ts >= since)
    if until is not None:
        stmt = stmt.where(Reading.ts < until)
    return stmt
