"""Writing and reading the record of readings (idempotent on reading id)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final, cast

from sqlalchemy import Select, Table, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

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
        "metric": r.metric.value,
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
SQLITE_CHUNK: Final = 1_000
"""Rows per SQLite statement (12 parameters a row, under SQLite's 32,766)."""

# One statement for many rows: each column as one array, unnested by the server. Several
# times faster than multi-row VALUES through an ORM, and a single round trip per chunk.
_PG_UPSERT: Final = text(  # identifiers are the constants above; values are bound
    f"INSERT INTO readings ({', '.join(COLUMNS)}) "  # noqa: S608
    "SELECT * FROM unnest("
    + ", ".join(f"CAST(:{c} AS {t}[])" for c, t in zip(COLUMNS, _PG_TYPES, strict=True))
    + ") ON CONFLICT (id) DO NOTHING RETURNING id"
)


def upsert_readings(session: Session, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Insert rows whose id is new; return the ids actually inserted (repeats are skipped)."""
    if not rows:
        return set()
    # Readings repeated inside one statement would trip ON CONFLICT on PostgreSQL.
    unique = list({row["id"]: row for row in rows}.values())
    inserted: set[str] = set()
    if session.get_bind().dialect.name == "postgresql":
        for start in range(0, len(unique), PG_CHUNK):
            chunk = unique[start : start + PG_CHUNK]
            arrays: dict[str, list[Any]] = {c: [row[c] for row in chunk] for c in COLUMNS}
            arrays["quality"] = [json.dumps(q) for q in arrays["quality"]]
            inserted.update(session.scalars(_PG_UPSERT, arrays))
        return inserted
    # Core, not the ORM: no per-row unit-of-work bookkeeping.
    table = cast(Table, Reading.__table__)
    stmt = sqlite.insert(table).on_conflict_do_nothing(index_elements=["id"]).returning(table.c.id)
    for start in range(0, len(unique), SQLITE_CHUNK):
        inserted.update(session.execute(stmt, unique[start : start + SQLITE_CHUNK]).scalars())
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
