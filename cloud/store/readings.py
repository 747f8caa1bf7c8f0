"""Writing and reading the record of readings (idempotent on the gateway's reading id).

A reading's key is ``(gateway_id, id)``: the id is the sending gateway's own, so a gateway
cannot take another's ids first. A repeat of a key with the same content is a harmless
duplicate (MQTT delivers at least once); with other content it is a conflict, returned to
the caller to quarantine, never dropped in silence.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, cast

import psycopg
from sqlalchemy import Select, Table, bindparam, select, tuple_, update
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
_PG_COPY_DIRECT: Final = f"COPY readings ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)"
_PG_SAVEPOINT: Final = "SAVEPOINT readings_copy"
_PG_ROLLBACK_SAVEPOINT: Final = "ROLLBACK TO SAVEPOINT readings_copy"
_PG_RELEASE_SAVEPOINT: Final = "RELEASE SAVEPOINT readings_copy"
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
    f"SELECT {', '.join(COLUMNS)} FROM readings_incoming "
    "ON CONFLICT (gateway_id, id) DO NOTHING RETURNING gateway_id, id"
)
CONTENT: Final = tuple(c for c in COLUMNS if c not in {"id", "gateway_id", "received_at"})
"""What a repeat must match to be a duplicate rather than a conflict (not ``received_at``)."""
_PG_CONFLICTS: Final = (
    "SELECT i.gateway_id, i.id FROM readings_incoming i JOIN readings r "  # noqa: S608
    "ON r.gateway_id = i.gateway_id AND r.id = i.id WHERE "
    f"({', '.join('r.' + c for c in CONTENT if c != 'quality')}, r.quality::jsonb) "
    "IS DISTINCT FROM "
    f"({', '.join('i.' + c for c in CONTENT if c != 'quality')}, i.quality::jsonb)"
)
"""Rows just staged whose key is stored with other content (rows inserted by this very
statement match themselves)."""

Key = tuple[str, str]
"""``(gateway_id, id)``"""


@dataclass
class Upserted:
    inserted: set[Key] = field(default_factory=set)
    """Keys stored by this call."""
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    """Rows whose key was already stored (or came earlier in the batch) with other content."""


def key(row: dict[str, Any]) -> Key:
    return (row["gateway_id"], row["id"])


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
    """Insert rows whose key is new; return the reading ids inserted (for callers that
    write one gateway's readings; ingest uses ``store_readings``)."""
    return {rid for _, rid in store_readings(session, rows).inserted}


def store_readings(
    session: Session, rows: Sequence[dict[str, Any]], *, check_conflicts: bool = True
) -> Upserted:
    """Insert rows whose key is new; report what was inserted and which rows conflict.

    Conflicts are looked for only when some rows were not inserted (repeats), so the common
    path costs nothing more. ``check_conflicts=False`` is the ``ingest_secure`` benchmark's
    baseline only.
    """
    out = Upserted()
    if not rows:
        return out
    # A key repeated inside one statement would trip ON CONFLICT on PostgreSQL: the first
    # row of a key is written, a later one with other content is a conflict.
    first: dict[Key, dict[str, Any]] = {}
    for row in rows:
        seen = first.setdefault(key(row), row)
        if seen is not row and check_conflicts and _content(seen) != _content(row):
            out.conflicts.append(row)
    unique = list(first.values())
    if session.get_bind().dialect.name == "postgresql":
        inserted, stored_differently = _upsert_postgres(session, unique, check_conflicts)
        out.inserted = set(first) if inserted is None else inserted
    else:
        out.inserted = _upsert_sqlite(session, unique)
        stored_differently = set()
        if check_conflicts and len(out.inserted) < len(unique):
            stored_differently = _sqlite_conflicts(
                session, [r for r in unique if key(r) not in out.inserted]
            )
    if stored_differently:
        out.conflicts.extend(r for r in unique if key(r) in stored_differently)
    return out


def _content(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[c] for c in CONTENT)


def _upsert_sqlite(session: Session, unique: Sequence[dict[str, Any]]) -> set[Key]:
    # Multi-row VALUES with the values already in SQLite's storage form: SQLAlchemy's
    # per-value bind processing was most of the insert's time. ``seq`` numbers follow commit
    # order: they are taken under SQLite's write lock (cloud.store.marks).
    inserted: set[Key] = set()
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
        inserted.update((gw, rid) for gw, rid in connection.exec_driver_sql(sql, tuple(params)))
    return inserted


def _sqlite_conflicts(session: Session, repeats: Sequence[dict[str, Any]]) -> set[Key]:
    """Keys of ``repeats`` stored with other content."""
    wanted = {key(r): r for r in repeats}
    columns = [getattr(Reading, c) for c in CONTENT]
    out: set[Key] = set()
    for start in range(0, len(repeats), 500):
        keys = list(wanted)[start : start + 500]
        stmt = select(Reading.gateway_id, Reading.id, *columns).where(
            tuple_(Reading.gateway_id, Reading.id).in_(keys)
        )
        for gw, rid, *stored in session.execute(stmt):
            if tuple(stored) != _content(wanted[(gw, rid)]):
                out.add((gw, rid))
    return out


def _upsert_postgres(
    session: Session, rows: Sequence[dict[str, Any]], check_conflicts: bool
) -> tuple[set[Key] | None, set[Key]]:
    """Store the rows whose key is new; the keys inserted (None: every row's), and the
    keys stored with other content.

    First the rows are COPYed straight into ``readings`` under a savepoint: a batch of new
    readings (nearly every batch) is then stored by one COPY, with no staging copy, no
    ON CONFLICT probe and no keys sent back. If a key is already stored (a repeat, or
    another writer's), the COPY fails as a whole and is rolled back to the savepoint, and
    the rows go the careful way (``_upsert_staged``). COPY's rows are encoded by psycopg's
    C extension; ``seq`` defaults to the writing transaction's id (cloud.store.marks), the
    same under a savepoint.
    """
    driver = session.connection().connection.driver_connection
    assert driver is not None
    with driver.cursor() as cur:
        cur.execute(_PG_SAVEPOINT)
        try:
            _copy_rows(cur, _PG_COPY_DIRECT, rows)
        except psycopg.errors.UniqueViolation:
            cur.execute(_PG_ROLLBACK_SAVEPOINT)
        else:
            cur.execute(_PG_RELEASE_SAVEPOINT)
            return None, set()
        return _upsert_staged(cur, rows, check_conflicts)


def _copy_rows(cur: psycopg.Cursor[Any], statement: str, rows: Sequence[dict[str, Any]]) -> None:
    quality_json: dict[int, str] = {}  # rows share a handful of quality dicts (``_quality``)
    with cur.copy(statement) as copy:
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


def _upsert_staged(
    cur: psycopg.Cursor[Any], rows: Sequence[dict[str, Any]], check_conflicts: bool
) -> tuple[set[Key], set[Key]]:
    """COPY the rows into the connection's staging table, then insert the new ones from it.

    The staging table is emptied on commit and on rollback alike (a rolled back COPY leaves
    nothing), and emptied here too, so two calls in one transaction stay separate.
    """
    cur.execute(_PG_CREATE_STAGING)
    _copy_rows(cur, _PG_COPY, rows)
    cur.execute(_PG_UPSERT)
    inserted = {(r[0], r[1]) for r in cur.fetchall()}
    conflicts: set[Key] = set()
    if check_conflicts and len(inserted) < len(rows):
        cur.execute(_PG_CONFLICTS)
        conflicts = {(r[0], r[1]) for r in cur.fetchall()}
    return inserted, conflicts


_SQLITE_ROW: Final = "(" + ",".join("?" * (len(COLUMNS) + 1)) + ")"
_SQLITE_UPSERT: Final = (
    f"INSERT INTO readings ({', '.join(COLUMNS)}, seq) VALUES {{values}} "  # noqa: S608
    "ON CONFLICT (gateway_id, id) DO NOTHING RETURNING gateway_id, id"
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
