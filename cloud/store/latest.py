"""The latest two usable readings of each series, and the days each patient has data, kept
current in the ingest transaction (docs/architecture.md, "Population and trend reads").

The population page reads these instead of searching the readings: one row a series and
one row a patient-day. Both stay exactly what a query over the readings would say:

- a series' latest and previous readings are the two greatest by ``(ts, gateway_id, id)``
  (ids compared by code point), so an older reading that arrives late, or a backfill,
  lands in second place or nowhere, never over a newer one; the merge runs in the upsert
  itself, so concurrent ingest writers cannot lose one another's update;
- a day with data is a UTC day with at least one usable reading of a physiologic metric
  (``DEVICE_METRICS`` excluded), as the daily rollups count it;
- retention (``forget_before``) and erasure (``forget_patient``) remove what the readings
  they delete had put here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Final, cast

from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    String,
    Table,
    Tuple,
    and_,
    bindparam,
    case,
    column,
    delete,
    func,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from cloud.store.base import ID, WIRE_ID, Base

DEVICE_METRICS: Final = ("battery_level",)
"""Readings about the device, not the patient: no day of physiologic data (99454 / 99445)."""
CHUNK: Final = 1000
"""Rows per upsert statement."""


class LatestValue(Base):
    """A series' latest usable reading and the one before it (``prev_*``, absent for a
    series of one reading)."""

    __tablename__ = "latest_values"

    patient_id: Mapped[str] = mapped_column(WIRE_ID, primary_key=True)
    metric: Mapped[str] = mapped_column(String(32), primary_key=True)
    ts: Mapped[datetime]
    value: Mapped[float] = mapped_column(Float)
    gateway_id: Mapped[str] = mapped_column(String(128))
    reading_id: Mapped[str] = mapped_column(ID)
    prev_ts: Mapped[datetime | None]
    prev_value: Mapped[float | None] = mapped_column(Float)
    prev_gateway_id: Mapped[str | None] = mapped_column(String(128))
    prev_reading_id: Mapped[str | None] = mapped_column(ID)


class DataDay(Base):
    """A UTC day on which a patient has physiologic readings (``start``: its midnight)."""

    __tablename__ = "data_days"

    start: Mapped[datetime] = mapped_column(primary_key=True)
    patient_id: Mapped[str] = mapped_column(WIRE_ID, primary_key=True)


_FIELDS: Final = ("ts", "value", "gateway_id", "reading_id")
_ORDER: Final = ("ts", "gateway_id", "reading_id")


def _order_key(row: Mapping[str, Any]) -> tuple[datetime, str, str]:
    return (row["ts"], row["gateway_id"], row["id"])


def latest_candidates(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per series, the two greatest of the usable ``rows`` by ``(ts, gateway_id, id)``,
    as ``latest_values`` rows sorted by key (a stable lock order between writers)."""
    top: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for row in rows:
        if not row["usable"]:
            continue
        series = (row["patient_id"], row["metric"])
        best = top.get(series)
        if best is None:
            top[series] = [row]
            continue
        k = _order_key(row)
        if k > _order_key(best[0]):
            top[series] = [row, best[0]]
        elif len(best) == 1 or k > _order_key(best[1]):
            top[series] = [best[0], row]
    out = []
    for (patient_id, metric), best in sorted(top.items()):
        first = best[0]
        second = best[1] if len(best) > 1 else None
        out.append(
            {
                "patient_id": patient_id,
                "metric": metric,
                "ts": first["ts"],
                "value": float(first["value"]),
                "gateway_id": first["gateway_id"],
                "reading_id": first["id"],
                "prev_ts": second["ts"] if second else None,
                "prev_value": float(second["value"]) if second else None,
                "prev_gateway_id": second["gateway_id"] if second else None,
                "prev_reading_id": second["id"] if second else None,
            }
        )
    return out


def day_candidates(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The ``data_days`` rows the usable physiologic ``rows`` fall on, sorted."""
    days = {
        (int(row["ts"].timestamp() // 86400), row["patient_id"])
        for row in rows
        if row["usable"] and row["metric"] not in DEVICE_METRICS
    }
    return [
        {"start": datetime.fromtimestamp(day * 86400, UTC), "patient_id": patient_id}
        for day, patient_id in sorted(days)
    ]


def _key(postgres: bool, ts: Any, gateway_id: Any, reading_id: Any) -> Tuple:
    """The order of readings in a series; ids by code point (PostgreSQL's "C" collation,
    SQLite's default BINARY), as Python compares them."""
    if postgres:
        gateway_id, reading_id = gateway_id.collate("C"), reading_id.collate("C")
    return tuple_(ts, gateway_id, reading_id)


def _merge(postgres: bool, stored: Any, new: Any) -> dict[str, ColumnElement[Any]]:
    """SET clauses keeping the two greatest of the stored pair and the incoming pair."""

    def key(cols: Any, prefix: str = "") -> Tuple:
        return _key(postgres, *(cols[prefix + f] for f in _ORDER))

    new_first = key(new) > key(stored)
    # The incoming latest wins: the second is the incoming second or the stored latest.
    second_is_new = and_(new.prev_ts.is_not(None), key(new, "prev_") > key(stored))
    # The stored latest stays: the incoming latest may still beat the stored second.
    first_over_prev = or_(stored.prev_ts.is_(None), key(new) > key(stored, "prev_"))
    out: dict[str, ColumnElement[Any]] = {}
    for f in _FIELDS:
        out[f] = case((new_first, new[f]), else_=stored[f])
        out["prev_" + f] = case(
            (new_first, case((second_is_new, new["prev_" + f]), else_=stored[f])),
            (first_over_prev, new[f]),
            else_=stored["prev_" + f],
        )
    return out


def keep_latest(session: Session, rows: Iterable[Mapping[str, Any]]) -> None:
    """Fold newly stored readings into ``latest_values`` and ``data_days`` (the caller
    passes only rows its upsert inserted, as for the rollups)."""
    rows = list(rows)
    latest, days = latest_candidates(rows), day_candidates(rows)
    if not latest:
        return
    if session.get_bind().dialect.name == "postgresql":
        # One statement whatever the batch's size: an executemany costs the server a
        # statement a row (about 0.1 ms each, measured).
        session.execute(_PG_LATEST, {"rows": json_rows(latest)})
        session.execute(_PG_DAYS, {"rows": json_rows(days)})
        return
    insert = sqlite.insert(LatestValue)
    upsert = insert.on_conflict_do_update(
        index_elements=["patient_id", "metric"],
        set_=_merge(False, LatestValue.__table__.c, insert.excluded),
    )
    for start in range(0, len(latest), CHUNK):
        session.execute(upsert, latest[start : start + CHUNK])
    add_days = sqlite.insert(DataDay).on_conflict_do_nothing()
    for start in range(0, len(days), CHUNK):
        session.execute(add_days, days[start : start + CHUNK])


def json_rows(rows: list[dict[str, Any]]) -> str:
    """The rows as one JSON array (times in ISO 8601): a single text parameter, which the
    server splits into rows; arrays of strings cost the client an escape per element."""
    return json.dumps(
        [{k: v.isoformat() if isinstance(v, datetime) else v for k, v in r.items()} for r in rows]
    )


def insert_from_json(model: type[Base]) -> Any:
    """``INSERT INTO model SELECT * FROM json_to_recordset(:rows)``, typed by the model."""
    table = cast(Table, model.__table__)  # not the entity: the ORM would bulk-insert
    columns = list(table.columns)
    rows = (
        func.json_to_recordset(sql_cast(bindparam("rows", type_=String), postgresql.JSON))
        .table_valued(*(column(c.name, c.type) for c in columns))
        .render_derived(name="incoming", with_types=True)
    )
    return postgresql.insert(table).from_select([c.name for c in columns], select(rows))


def _pg_latest_upsert() -> Any:
    insert = insert_from_json(LatestValue)
    return insert.on_conflict_do_update(
        index_elements=["patient_id", "metric"],
        set_=_merge(True, LatestValue.__table__.c, insert.excluded),
    )


_PG_LATEST: Final = _pg_latest_upsert()
_PG_DAYS: Final = insert_from_json(DataDay).on_conflict_do_nothing()


def forget_before(session: Session, patients: Select[Any], cutoff: datetime) -> dict[str, int]:
    """After retention deleted the readings of ``patients`` older than ``cutoff`` (a UTC
    midnight): what those readings had put here goes too."""
    gone = session.execute(
        delete(LatestValue).where(LatestValue.patient_id.in_(patients), LatestValue.ts < cutoff)
    )
    # A previous reading older than the cutoff has no successor left: the latest stays alone.
    session.execute(
        update(LatestValue)
        .where(LatestValue.patient_id.in_(patients), LatestValue.prev_ts < cutoff)
        .values(prev_ts=None, prev_value=None, prev_gateway_id=None, prev_reading_id=None)
    )
    days = session.execute(
        delete(DataDay).where(DataDay.patient_id.in_(patients), DataDay.start < cutoff)
    )
    return {
        "latest_values": int(gone.rowcount or 0),  # type: ignore[attr-defined]
        "data_days": int(days.rowcount or 0),  # type: ignore[attr-defined]
    }


def forget_patient(session: Session, patient_id: str) -> dict[str, int]:
    """An erasure: the patient's rows in both tables."""
    out = {}
    for name, table in (("latest_values", LatestValue), ("data_days", DataDay)):
        result = session.execute(delete(table).where(table.patient_id == patient_id))
        out[name] = int(result.rowcount or 0)  # type: ignore[attr-defined]
    return out
