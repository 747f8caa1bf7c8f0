"""A patient's trend for one metric over a time range, downsampled on the server.

The source is chosen by size: the raw readings when there are few enough to read at once,
otherwise the hourly (or, over years, daily) rollups, whose means are downsampled and whose
true minimum and maximum are added where and when they happened. Either way the chart gets
at most ``points`` points and never loses the worst value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import ColumnElement, Float, Select, func, select
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.orm import Session

from cloud.store.edge_records import EdgeRollup
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


def _daily_estimate(patient_id: str, since: datetime, until: datetime) -> Select[str, int, int]:
    """Readings and days per metric in range, from the daily rollups (one row a day)."""
    return (
        select(Rollup.metric, func.coalesce(func.sum(Rollup.count), 0), func.count())
        .where(
            Rollup.patient_id == patient_id,
            Rollup.period == Period.DAY.value,
            Rollup.start >= bucket_start(since, Period.DAY),
            Rollup.start < until,
        )
        .group_by(Rollup.metric)
    )


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
    estimate = _daily_estimate(patient_id, since, until).where(Rollup.metric == metric)
    found = session.execute(estimate).one_or_none()
    total, days = (int(found[1]), int(found[2])) if found else (0, 0)
    return _from_source(session, TrendQuery(patient_id, metric, since, until, points), total, days)


def patient_trends(
    session: Session, *, patient_id: str, since: datetime, until: datetime, points: int
) -> dict[str, Trend]:
    """``trend`` of every metric the patient has rollups for in range, by metric: one
    estimate for all of them, then one query each (the patient page's charts)."""
    if points < MIN_POINTS:
        raise ValueError(f"a trend needs at least {MIN_POINTS} points")
    estimates = session.execute(
        _daily_estimate(patient_id, since, until).order_by(Rollup.metric)
    ).all()
    return {
        metric: _from_source(
            session, TrendQuery(patient_id, metric, since, until, points), int(total), int(days)
        )
        for metric, total, days in estimates
    }


def _from_source(session: Session, q: TrendQuery, total: int, days: int) -> Trend:
    if total <= RAW_MAX:
        return _from_raw(session, q)
    period = Period.HOUR if days * 24 <= HOURLY_MAX else Period.DAY
    return _from_rollups(session, q, period, total)


def _from_raw(session: Session, q: TrendQuery) -> Trend:
    where = (
        Reading.patient_id == q.patient_id,
        Reading.metric == q.metric,
        Reading.usable.is_(True),
        Reading.ts >= q.since,
        Reading.ts < q.until,
    )
    if session.get_bind().dialect.name == "postgresql":
        x, y = _raw_arrays_pg(session, where)

        def at(i: int) -> datetime:
            return datetime.fromtimestamp(float(x[i]), UTC)
    else:
        rows = session.execute(
            select(Reading.ts, Reading.value).where(*where).order_by(Reading.ts)
        ).all()
        stamps = [r[0] for r in rows]
        x = _epoch(stamps)
        y = np.fromiter((r[1] for r in rows), dtype=np.float64, count=len(rows))

        def at(i: int) -> datetime:
            return stamps[i]

    return _raw_trend(x, y, at, q.points)


def _raw_trend(
    x: NDArray[np.float64], y: NDArray[np.float64], at: Callable[[int], datetime], points: int
) -> Trend:
    """Raw points downsampled by LTTB, the lowest and highest kept; ``at(i)`` is the time
    of point ``i``."""
    if not len(y):
        return Trend("raw", 0, [], None, None)
    keep = lttb_indices(x, y, points)
    lo, hi = int(np.argmin(y)), int(np.argmax(y))
    return Trend(
        "raw",
        len(y),
        [Point(at(int(i)), float(y[i])) for i in keep],
        Point(at(lo), float(y[lo])),
        Point(at(hi), float(y[hi])),
    )


def _ordered(column: Any, *order: Any, type_: Any) -> Any:
    """``array_agg(column ORDER BY order…)``: a column of rows as one array value."""
    return func.array_agg(aggregate_order_by(column, *order), type_=ARRAY(type_))


def _raw_arrays_pg(
    session: Session, where: tuple[ColumnElement[bool], ...]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Times (epoch seconds, exact to the microsecond) and values in time order, as one row
    of two arrays built by the server: no row or datetime object per reading in Python."""
    in_order = (Reading.ts, Reading.gateway_id, Reading.id)  # both arrays pair up on ties
    row = session.execute(
        select(
            _ordered(func.date_part("epoch", Reading.ts), *in_order, type_=Float()),
            _ordered(Reading.value, *in_order, type_=Float()),
        ).where(*where)
    ).one()
    return np.asarray(row[0] or [], dtype=np.float64), np.asarray(row[1] or [], dtype=np.float64)


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
    ordered = _ordered
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


HRV_ROWS_MAX: Final = 50_000
"""Minutes of RR data read for one HRV trend (about five weeks of a strap worn all day);
beyond that the most recent are drawn."""


def hrv_trend(
    session: Session, *, patient_id: str, since: datetime, until: datetime, points: int
) -> Trend:
    """RMSSD (ms) of the per-minute rollups the gateway computed from RR intervals
    (``gateway.signal.hrv``), downsampled like the other trends with the extremes kept."""
    rows = session.execute(
        select(EdgeRollup.start, EdgeRollup.hrv)
        .where(
            EdgeRollup.patient_id == patient_id,
            EdgeRollup.metric == "heart_rate",
            EdgeRollup.hrv.is_not(None),
            EdgeRollup.start >= since,
            EdgeRollup.start < until,
        )
        .order_by(EdgeRollup.start.desc())
        .limit(HRV_ROWS_MAX)
    ).all()
    found = [
        (start, float(value))
        for start, hrv in reversed(rows)
        if isinstance(hrv, dict) and isinstance(value := hrv.get("rmssd_ms"), int | float)
    ]
    stamps = [start for start, _ in found]
    y = np.fromiter((v for _, v in found), dtype=np.float64, count=len(found))
    return _raw_trend(_epoch(stamps), y, stamps.__getitem__, points)
