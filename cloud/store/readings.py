"""Writing and reading the record of readings (idempotent on reading id)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import Select, select, text
from sqlalchemy.orm import Session

from cloud.store.marks import next_seqs
from cloud.store.models import Reading
from gateway import wire

_QUALITY_JSON: dict[tuple[bool, tuple[str, ...], str | None, str | None], dict[str, Any]] = {}
"""Quality dumps by value: a stream repeats a handful of qualities, so dump each once."""


def _quality(q: wire.Quality) -> dict[str, Any]:
    key = (q.usable, q.flags, q.source, q.source_unit)
    dumped = _QUALITY_JSON.get(key)
    if dumped is None:
        dumped = q.model_dump(mode="json", exclude_none=True)
        if len(_QUALITY_JSON) < 10_000:
            _QUALITY_JSON[key] = dumped
    return dumped


def reading_row(r: wire.Reading, *, gateway_id: str, received_at: datetime) -> dict[str, Any]:
    return {
        "id": r.id,
        "gateway_id": gateway_id,
        "patient_id": r.patient_id,
        "device_id": r.device_id,
        "metric": str(r.metric),  # StrEnum: its value, without Enum's slow .value
        "value": r.value,
        "unit": r.unit,
        "ts": r.ts,
        "measurement_id": r.measurement_id,
        "usable": r.quality.usable,
        "quality": _quality(r.quality),
        "received_at": received_at,
    }


COLUMNS: Final = (
    "id",
    "gateway_id",
    "patient_id",
    "device_id",
    "metric",
    "value",
    "unit",
    "ts",
    "measurement_id",
    "usable",
    "quality",
    "received_at",
)
_PG_TYPES: Final = (
    "varchar",
    "varchar",
    "varchar",
    "varchar",
    "varchar",
    "float8",
    "varchar",
    "timestamptz",
    "varchar",
    "bool",
    "json",
    "timestamptz",
)
PG_CHUNK: Final = 5_000
"""Rows per PostgreSQL statement (one array per column, so no limit on parameters)."""
SQLITE_CHUNK: Final = 2_000
"""Rows per SQLite statement (13 parameters a row: 26,000, under SQLite's 32,766)."""

# One statement for many rows: each column as one array, unnested by the server. Several
# times faster than multi-row VALUES through an ORM, and a single round trip per chunk.
_PG_UPSERT: Final = text(  # identifiers are the constants above; values are bound
    f"INSERT INTO readings ({', '.join(COLUMNS)}) "  # noqa: S608
    "SELECT * FROM unnest("
    + ", ".join(f"CAST(:{c} AS {t}[])" for c, t in zip(COLUMNS, _PG_TYPES, strict=True))
    + ") ON CONFLICT (id) DO NOTHING RETURNING id"
)


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
    # Readings repeated inside one statement would trip ON CONFLICT on PostgreSQL.
    unique = list({row["id"]: row for row in rows}.values())
    inserted: set[str] = set()
    if session.get_bind().dialect.name == "postgresql":
        # There ``seq`` defaults to the writing transaction's id (cloud.store.marks).
        for start in range(0, len(unique), PG_CHUNK):
            chunk = unique[start : start + PG_CHUNK]
            arrays: dict[str, list[Any]] = {c: [row[c] for row in chunk] for c in COLUMNS}
            arrays["quality"] = [json.dumps(q) for q in arrays["quality"]]
            inserted.update(session.scalars(_PG_UPSERT, arrays))
        return inserted
    # Multi-row VALUES with the values already in SQLite's storage form: SQLAlchemy's
    # per-value bind processing was most of the insert's time. ``seq`` numbers follow commit
    # order: they are taken under SQLite's write lock (cloud.store.marks).
    seq = next_seqs(session, len(unique))
    connection = session.connection()
    for start in range(0, len(unique), SQLITE_CHUNK):
        chunk = unique[start : start + SQLITE_CHUNK]
        params = [
            value
            for offset, row in enumerate(chunk, start=seq + start)
            for value in (*_sqlite_values(row), offset)
        ]
        sql = _SQLITE_UPSERT.format(values=",".join([_SQLITE_ROW] * len(chunk)))
        inserted.update(connection.exec_driver_sql(sql, tuple(params)).scalars())
    return inserted


_SQLITE_ROW: Final = "(" + ",".join("?" * (len(COLUMNS) + 1)) + ")"
_SQLITE_UPSERT: Final = (
    f"INSERT INTO readings ({', '.join(COLUMNS)}, seq) VALUES {{values}} "  # noqa: S608
    "ON CONFLICT (id) DO NOTHING RETURNING id"
)
_SQLITE_DATETIME: Final = "%Y-%m-%d %H:%M:%S.%f"
"""SQLAlchemy's storage format for SQLite DATETIME (naive UTC, as ``UtcDateTime`` stores)."""


def _sqlite_datetime(ts: datetime) -> str:
    if ts.tzinfo is None:
        raise ValueError("naive datetime: pass an aware UTC datetime")
    return ts.astimezone(UTC).strftime(_SQLITE_DATETIME)


def _sqlite_values(row: dict[str, Any]) -> tuple[Any, ...]:
    return (
        row["id"],
        row["gateway_id"],
        row["patient_id"],
        row["device_id"],
        row["metric"],
        row["value"],
        row["unit"],
        _sqlite_datetime(row["ts"]),
        row["measurement_id"],
        1 if row["usable"] else 0,
        json.dumps(row["quality"]),
        _sqlite_datetime(row["received_at"]),
    )


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
