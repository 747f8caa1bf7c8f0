"""A patient's trend for one metric over a time range, downsampled on the server.

The source is chosen by size: the raw readings when there are few enough to read at once,
otherwise the hourly (or, over years, daily) rollups, whose means are downsampled and whose
true minimum and maximum are added where and when they happened. Either way the chart gets
at most ``points`` points and never loses the worst value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import ColumnElement, Float, func, select
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.orm import Session

from cloud.store.models import Reading
from cloud.store.rollups import Period, Rollup, bucket_start
from cloud.store.types import UtcDateTime
from cloud.trends.lttb import lttb_indices

RAW_MAX: Final = 20_000
"""Above about this many readings in range (counted on daily rollups), the trend is built
from rollups, so the read time stays flat however long the range."""
MIN_POINTS: Final = 5
"""LTTB needs 3, plus the minimum and the maximum."""
HOURLY_MAX: Final = 20_000
"""Above this many hourly buckets (~2.3 years), daily rollups are used."""


@dataclass(frozen=True, slots=True)
class TrendQuery:
    patient_id: str
    metric: str
    since: datetime
    until: datetime
    points: int


@dataclass(frozen=True, slots=True)
class Point:
    ts: datetime
    value: float


@dataclass(frozen=True, slots=True)
class Trend:
    resolution: str
    """``raw``, ``hour`` (hourly means) or ``day`` (daily means)."""
    source_points: int
    """Readings in the range (before downsampling)."""
    points: list[Point]
    min: Point | None
    max: Point | None


def _epoch(values: list[datetime]) -> np.ndarray[tuple[int], np.dtype[np.float64]]:
    return np.fromiter((v.timestamp() for v in values), dtype=np.float64, count=len(values))


def trend(
    session: Session,
    *,
    patient_id: str,
    metric: str,
    since: datetime,
    until: datetime,
    points: int,
) -> Trend:
    """At most ``points`` (≥ 5) points of usable readings in ``[since, until)``, extremes kept."""
    if points < MIN_POINTS:
        raise ValueError(f"a trend needs at least {MIN_POINTS} points")
    # Daily rollups (one row a day) are enough to choose the source.
    estimate = select(func.coalesce(func.sum(Rollup.count), 0), func.count()).where(
        Rollup.patient_id == patient_id,
        Rollup.metric == metric,
        Rollup.period == Period.DAY.value,
        Rollup.start >= bucket_start(since, Period.DAY),
        Rollup.start < until,
    )
    total, days = session.execute(estimate).one()
    q = TrendQuery(patient_id, metric, since, until, points)
    if total <= RAW_MAX:
        return _from_raw(session, q)
    period = Period.HOUR if days * 24 <= HOURLY_MAX else Period.DAY
    return _from_rollups(session, q, period, int(total))


def _from_raw(session: Session, q: TrendQuery) -> Trend:
    rows = session.execute(
        select(Reading.ts, Reading.value)
        .where(
            Reading.patient_id == q.patient_id,
            Reading.metric == q.metric,
            Reading.usable.is_(True),
            Reading.ts >= q.since,
            Reading.ts < q.until,
        )
        .order_by(Reading.ts)
    ).all()
    if not rows:
        return Trend("raw", 0, [], None, None)
    ts = [r[0] for r in rows]
    y = np.fromiter((r[1] for r in rows), dtype=np.float64, count=len(rows))
    keep = lttb_indices(_epoch(ts), y, q.points)
    lo, hi = int(np.argmin(y)), int(np.argmax(y))
    return Trend(
        "raw",
        len(rows),
        [Point(ts[i], float(y[i])) for i in keep],
        Point(ts[lo], float(y[lo])),
        Point(ts[hi], float(y[hi])),
    )


def _epoch_column(session: Session, column: Any) -> Any:
    """Seconds since 1970 computed by the database (no datetime object per row in Python)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date_part("epoch", column)  # double precision (extract gives numeric)
    return (func.julianday(column) - 2440587.5) * 86400.0


def _from_rollups(session: Session, q: TrendQuery, period: Period, total: int) -> Trend:
    where = (
        Rollup.patient_id == q.patient_id,
        Rollup.metric == q.metric,
        Rollup.period == period.value,
        Rollup.start >= bucket_start(q.since, period),
        Rollup.start < q.until,
    )
    if session.get_bind().dialect.name == "postgresql":
        x, means, low, high = _rollup_arrays_pg(session, where)
    else:
        x, means, low, high = _rollup_rows(session, where)
    # Room for the two extremes, which are real readings, not means.
    keep = lttb_indices(x, means, q.points - 2, keep_extremes=False)
    series = [Point(datetime.fromtimestamp(float(x[i]), UTC), float(means[i])) for i in keep]
    series = sorted({*series, low, high}, key=lambda p: p.ts)
    return Trend(period.value, total, series, low, high)


_Arrays = tuple[NDArray[np.float64], NDArray[np.float64], Point, Point]


def _rollup_arrays_pg(session: Session, where: tuple[ColumnElement[bool], ...]) -> _Arrays:
    """Times, means and both extremes in one round trip: one row of arrays built by the
    server (no Python object per bucket), the extremes picked by ordered aggregates."""
    by_start = Rollup.start

    def ordered(column: Any, *order: Any, type_: Any) -> Any:
        return func.array_agg(aggregate_order_by(column, *order), type_=ARRAY(type_))

    row = session.execute(
        select(
            ordered(func.date_part("epoch", Rollup.start), by_start, type_=Float()),
            ordered(Rollup.total / Rollup.count, by_start, type_=Float()),
            func.min(Rollup.min),
            ordered(Rollup.min_ts, Rollup.min, Rollup.min_ts, type_=UtcDateTime())[1],
            func.max(Rollup.max),
            ordered(Rollup.max_ts, Rollup.max.desc(), Rollup.max_ts, type_=UtcDateTime())[1],
        ).where(*where)
    ).one()
    x = np.asarray(row[0] or [], dtype=np.float64)
    means = np.asarray(row[1] or [], dtype=np.float64)
    return x, means, Point(row[3], float(row[2])), Point(row[5], float(row[4]))


def _rollup_rows(session: Session, where: tuple[ColumnElement[bool], ...]) -> _Arrays:
    rows = session.execute(
        select(_epoch_column(session, Rollup.start), Rollup.total / Rollup.count)
        .where(*where)
        .order_by(Rollup.start)
    ).all()
    x = np.fromiter((r[0] for r in rows), dtype=np.float64, count=len(rows))
    means = np.fromiter((r[1] for r in rows), dtype=np.float64, count=len(rows))
    # Both extremes in one round trip.
    lowest = (
        select(Rollup.min_ts.label("ts"), Rollup.min.label("value"))
        .where(*where)
        .order_by(Rollup.min, Rollup.min_ts)
        .limit(1)
        .subquery()
    )
    highest = (
        select(Rollup.max_ts.label("ts"), Rollup.max.label("value"))
        .where(*where)
        .order_by(Rollup.max.desc(), Rollup.max_ts)
        .limit(1)
        .subquery()
    )
    extremes = session.execute(select(lowest).union_all(select(highest))).all()
    low, high = (Point(ts, float(value)) for ts, value in extremes)
    return x, means, low, high
