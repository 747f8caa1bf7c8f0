"""Hourly and daily rollups per patient and metric, kept current in the ingest transaction.

Only readings stored for the first time are added (the caller passes the rows its upsert
inserted), so a repeated delivery never counts twice. Minimum and maximum keep the time
they happened, so a downsampled trend can show the true extremes where they were.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import Float, Integer, String, case, func
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from cloud.store.base import WIRE_ID, Base
from cloud.store.latest import insert_from_json, json_rows, keep_latest


class Period(StrEnum):
    HOUR = "hour"
    DAY = "day"


class Rollup(Base):
    __tablename__ = "reading_rollups"

    patient_id: Mapped[str] = mapped_column(WIRE_ID, primary_key=True)
    metric: Mapped[str] = mapped_column(String(32), primary_key=True)
    period: Mapped[str] = mapped_column(String(8), primary_key=True)
    start: Mapped[datetime] = mapped_column(primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    total: Mapped[float] = mapped_column(Float)
    """Sum of the values; ``total / count`` is the mean."""
    min: Mapped[float] = mapped_column(Float)
    min_ts: Mapped[datetime]
    max: Mapped[float] = mapped_column(Float)
    max_ts: Mapped[datetime]


def bucket_start(ts: datetime, period: Period) -> datetime:
    """The UTC hour or day a timestamp falls in."""
    hour = ts.replace(minute=0, second=0, microsecond=0)
    return hour if period == Period.HOUR else hour.replace(hour=0)


def aggregate(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rollup rows (both periods) of the usable readings among ``rows``.

    One pass folds readings into hours (keyed by whole epoch hours, no datetime arithmetic
    per reading); the days are then folded from the hours.
    """
    hours: dict[tuple[str, str, int], list[Any]] = {}
    for row in rows:
        if not row["usable"]:
            continue
        value, ts = float(row["value"]), row["ts"]
        key = (row["patient_id"], row["metric"], int(ts.timestamp() // 3600))
        cur = hours.get(key)
        if cur is None:
            hours[key] = [1, value, value, ts, value, ts]
            continue
        cur[0] += 1
        cur[1] += value
        if value < cur[2]:
            cur[2], cur[3] = value, ts
        if value > cur[4]:
            cur[4], cur[5] = value, ts
    days: dict[tuple[str, str, int], list[Any]] = {}
    for (patient, metric, hour), h in hours.items():
        key = (patient, metric, hour // 24)
        cur = days.get(key)
        if cur is None:
            days[key] = list(h)
            continue
        cur[0] += h[0]
        cur[1] += h[1]
        if h[2] < cur[2]:
            cur[2], cur[3] = h[2], h[3]
        if h[4] > cur[4]:
            cur[4], cur[5] = h[4], h[5]
    return [
        *(_bucket(key, Period.HOUR, 3600, acc) for key, acc in hours.items()),
        *(_bucket(key, Period.DAY, 86400, acc) for key, acc in days.items()),
    ]


def _bucket(
    key: tuple[str, str, int], period: Period, seconds: int, acc: list[Any]
) -> dict[str, Any]:
    count, total, low, low_ts, high, high_ts = acc
    return {
        "patient_id": key[0],
        "metric": key[1],
        "period": period.value,
        "start": datetime.fromtimestamp(key[2] * seconds, UTC),
        "count": count,
        "total": total,
        "min": low,
        "min_ts": low_ts,
        "max": high,
        "max_ts": high_ts,
    }


def add_to_rollups(session: Session, rows: Iterable[Mapping[str, Any]]) -> int:
    """Fold newly stored readings into their hourly and daily rollups, and into each series'
    latest values and the days with data (``cloud.store.latest``); returns buckets touched."""
    rows = list(rows)
    keep_latest(session, rows)
    buckets = aggregate(rows)
    if not buckets:
        return 0
    buckets.sort(key=lambda b: (b["patient_id"], b["metric"], b["period"], b["start"]))
    if session.get_bind().dialect.name == "postgresql":
        # One statement for the batch's buckets (each key once, so one statement may update
        # them all): an executemany costs the server a statement and the client a parameter
        # set per bucket.
        session.execute(_PG_ADD, {"rows": json_rows(buckets)})
        return len(buckets)
    stmt = _fold(sqlite.insert(Rollup), postgres=False)
    for start in range(0, len(buckets), 1000):
        session.execute(stmt, buckets[start : start + 1000])
    return len(buckets)


def _fold(insert: Any, *, postgres: bool) -> Any:
    """``insert`` (of rollup rows) folding each into its stored bucket."""
    new = insert.excluded
    t = Rollup.__table__.c
    least, greatest = (func.least, func.greatest) if postgres else (func.min, func.max)
    return insert.on_conflict_do_update(
        index_elements=["patient_id", "metric", "period", "start"],
        set_={
            "count": t.count + new.count,
            "total": t.total + new.total,
            "min": least(t.min, new.min),
            "min_ts": case((new.min < t.min, new.min_ts), else_=t.min_ts),
            "max": greatest(t.max, new.max),
            "max_ts": case((new.max > t.max, new.max_ts), else_=t.max_ts),
        },
    )


_PG_ADD: Final = _fold(insert_from_json(Rollup), postgres=True)
