"""Writing and reading the record of readings (idempotent on reading id)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final, cast

from sqlalchemy import Select, Table, bindparam, select, update
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
# ``readings_incoming``: a temporary table per connection, emptied at each commit; a batch
# is COPYed into it, then inserted from it in one statement.
_PG_CREATE_STAGING: Final = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS readings_incoming "
    "(LIKE readings) ON COMMIT DELETE ROWS; DELETE FROM readings_incoming"
)
"""Sent as one simple query (one round trip); the DELETE finds the table empty but for a
second call in the same transaction."""
_PG_COPY: Final = f"COPY readings_incoming ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)"
_PG_COPY_TYPES: Final = (
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
    "text",  # the quality JSON, already dumped: json's binary form is its text
    "timestamptz",
)
"""Binary COPY: about three times less client time a row than text COPY (measured)."""
# Identifiers are the constants above; values never enter the SQL text.
_PG_UPSERT: Final = (
    f"INSERT INTO readings ({', '.join(COLUMNS)}) "  # noqa: S608
    f"SELECT {', '.join(COLUMNS)} FROM readings_incoming ON CONFLICT (id) DO NOTHING RETURNING id"
)
SQLITE_CHUNK: Final = 2_000
"""Rows per SQLite statement (13 parameters a row: 26,000, under SQLite's 32,766)."""


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
        return _upsert_postgres(session, unique)
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


def _upsert_postgres(session: Session, rows: Sequence[dict[str, Any]]) -> set[str]:
    """COPY the rows into the connection's staging table, then insert the new ones from it.

    COPY's rows are encoded by psycopg's C extension; binding one array per column (the
    earlier ``unnest`` statement) spent most of the ingest's time escaping array elements
    in Python. ``seq`` defaults to the writing transaction's id (cloud.store.marks). The
    staging table is emptied on commit and on rollback alike (a rolled back COPY leaves
    nothing), and emptied here too, so two calls in one transaction stay separate.
    """
    driver = session.connection().connection.driver_connection
    assert driver is not None
    quality_json: dict[int, str] = {}  # rows share a handful of quality dicts (``_quality``)
    with driver.cursor() as cur:
        cur.execute(_PG_CREATE_STAGING)
        with cur.copy(_PG_COPY) as copy:
            copy.set_types(_PG_COPY_TYPES)
            for row in rows:
                quality = row["quality"]
                dumped = quality_json.get(id(quality))
                if dumped is None:
                    dumped = quality_json[id(quality)] = json.dumps(quality)
                copy.write_row(
                    (
                        row["id"],
                        row["gateway_id"],
                        row["patient_id"],
                        row["device_id"],
                        row["metric"],
                        row["value"],
                        row["unit"],
                        row["ts"],
                        row["measurement_id"],
                        row["usable"],
                        dumped,
                        row["received_at"],
                    )
                )
        cur.execute(_PG_UPSERT)
        return {r[0] for r in cur.fetchall()}


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


def number_unnumbered(session: Session, *, limit: int = 10_000) -> int:
    """On SQLite, number readings stored without ``seq`` (written around ``upsert_readings``).

    A safety net, so no insert path can hide a reading from the sink; the numbers are taken
    under the write lock like any other, so they still follow commit order.
    """
    if session.get_bind().dialect.name == "postgresql":
        return 0  # the column's default numbers every row there
    ids = list(session.scalars(select(Reading.id).where(Reading.seq.is_(None)).limit(limit)))
    if not ids:
        return 0
    first = next_seqs(session, len(ids))
    table = cast(Table, Reading.__table__)  # core UPDATE: one statement, many rows
    session.execute(
        update(table).where(table.c.id == bindparam("rid")).values(seq=bindparam("new_seq")),
        [{"rid": rid, "new_seq": first + i} for i, rid in enumerate(ids)],
    )
    return len(ids)
