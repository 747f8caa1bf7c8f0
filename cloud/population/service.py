"""The population at a glance: every patient a caller may see, ranked by need.

One pass of set queries for the whole panel (open alerts grouped, the latest two readings
per metric, days with data this billing period, gateway state) — never a query per patient,
so a panel of a thousand patients costs the same few round trips as a panel of ten.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Final

from sqlalchemy import Row, Select, func, or_, select, true
from sqlalchemy.orm import Session

from cloud.api.deps import Principal
from cloud.auth.scope import visible_patient_ids
from cloud.engagement.billing import DAYS_99454
from cloud.reports.service import DEVICE_METRICS, data_day_counts
from cloud.store.models import Alert, AlertStatus, GatewayRecord, Reading
from cloud.store.rollups import Period, Rollup, bucket_start
from cloud.store.tenancy import CareTeamMember, Device, Pairing, Patient
from gateway.signal.scores import NEWS2_METRICS, news2_latest
from gateway.wire import Metric

LATEST_WINDOW: Final = timedelta(days=14)
"""How far back the latest value of a metric is looked for."""
STEADY_FRACTION: Final = 0.01
"""A change smaller than this share of the previous value is shown as steady."""
PRIORITY_RANK: Final = {"high": 0, "medium": 1, "low": 2}
NEWS2_MIN_PARAMETERS: Final = 2
"""A score from one fresh device value would mislead; it is shown from two on, with the
parameters it lacks named beside it."""
PERIOD_DAYS: Final = 30
"""The billing period the adherence column counts (CMS: 16 of 30 days for 99454)."""


@dataclass(frozen=True, slots=True)
class Latest:
    metric: str
    value: float
    ts: datetime
    direction: str
    """``up``, ``down``, ``steady`` against the reading before, or ``new``."""


@dataclass(slots=True)
class PatientRow:
    patient_id: str
    display_name: str
    program: str | None
    clinical_alerts: dict[str, int] = field(default_factory=dict)
    """Open (not resolved) clinical and missing-data alerts by priority."""
    device_alerts: int = 0
    last_reading_at: datetime | None = None
    latest: list[Latest] = field(default_factory=list)
    news2: int | None = None
    news2_risk: str | None = None
    news2_missing: tuple[str, ...] = ()
    data_days: int = 0
    gateway_problems: list[str] = field(default_factory=list)

    @property
    def adherent(self) -> bool:
        return self.data_days >= DAYS_99454

    def need(self, now: datetime) -> tuple[float, ...]:
        """Sort key, most in need first: open clinical alerts by priority, the early
        warning score, device and gateway problems, then the longest silence."""
        silence = (now - self.last_reading_at).total_seconds() if self.last_reading_at else 1e12
        return (
            -self.clinical_alerts.get("high", 0),
            -self.clinical_alerts.get("medium", 0),
            -(self.news2 or 0),
            -self.clinical_alerts.get("low", 0),
            -(self.device_alerts + len(self.gateway_problems)),
            -silence,
        )


@dataclass(frozen=True, slots=True)
class Filters:
    program: str | None = None
    care_team_user: int | None = None
    search: str | None = None


def _scope(principal: Principal, filters: Filters) -> Select[Any]:
    """The ids of the patients shown, as a subquery every other query reuses (no list of
    a thousand ids sent back to the database)."""
    stmt = select(Patient.id).where(Patient.id.in_(visible_patient_ids(principal)))
    if filters.program:
        stmt = stmt.where(Patient.program_id == filters.program)
    if filters.care_team_user is not None:
        team = select(CareTeamMember.patient_id).where(
            CareTeamMember.user_id == filters.care_team_user
        )
        stmt = stmt.where(Patient.id.in_(team))
    if filters.search:
        like = f"%{filters.search.strip().lower()}%"
        stmt = stmt.where(
            or_(func.lower(Patient.id).like(like), func.lower(Patient.display_name).like(like))
        )
    return stmt


def _open_alerts(session: Session, ids: Select[Any], rows: dict[str, PatientRow]) -> None:
    counts = session.execute(
        select(Alert.patient_id, Alert.category, Alert.priority, func.count())
        .where(Alert.patient_id.in_(ids), Alert.status != AlertStatus.RESOLVED)
        .group_by(Alert.patient_id, Alert.category, Alert.priority)
    ).all()
    for patient_id, category, priority, n in counts:
        row = rows[patient_id]
        if category == "device":
            row.device_alerts += n
        else:
            row.clinical_alerts[priority] = row.clinical_alerts.get(priority, 0) + n


def _direction(last: float, before: float | None) -> str:
    if before is None:
        return "new"
    if abs(last - before) <= STEADY_FRACTION * max(abs(before), 1e-9):
        return "steady"
    return "up" if last > before else "down"


def _latest_rows(
    session: Session, ids: Select[Any], now: datetime
) -> Sequence[Row[str, str, float, datetime]]:
    """(patient, metric, value, ts) of the latest two usable readings of each series."""
    since = now - LATEST_WINDOW
    if session.get_bind().dialect.name == "postgresql":
        # The series come from the daily rollups; each series' last two readings are then an
        # index walk (ix_readings_patient_metric_ts) instead of ranking every reading.
        series = (
            select(Rollup.patient_id, Rollup.metric)
            .where(
                Rollup.patient_id.in_(ids),
                Rollup.period == Period.DAY.value,
                Rollup.start >= bucket_start(since, Period.DAY),
            )
            .distinct()
            .subquery()
        )
        last_two = (
            select(Reading.value, Reading.ts)
            .where(
                Reading.patient_id == series.c.patient_id,
                Reading.metric == series.c.metric,
                Reading.usable.is_(True),
                Reading.ts >= since,
                Reading.ts <= now,
            )
            .order_by(Reading.ts.desc())
            .limit(2)
            .lateral()
        )
        return session.execute(
            select(series.c.patient_id, series.c.metric, last_two.c.value, last_two.c.ts)
            .join(last_two, true())
            .order_by(series.c.patient_id, series.c.metric, last_two.c.ts.desc())
        ).all()
    rank = (
        func.row_number()
        .over(partition_by=(Reading.patient_id, Reading.metric), order_by=Reading.ts.desc())
        .label("rank")
    )
    recent = (
        select(Reading.patient_id, Reading.metric, Reading.value, Reading.ts, rank)
        .where(
            Reading.patient_id.in_(ids),
            Reading.usable.is_(True),
            Reading.ts >= since,
            Reading.ts <= now,
        )
        .subquery()
    )
    return session.execute(
        select(recent.c.patient_id, recent.c.metric, recent.c.value, recent.c.ts)
        .where(recent.c.rank <= 2)
        .order_by(recent.c.patient_id, recent.c.metric, recent.c.rank)
    ).all()


def _latest(session: Session, ids: Select[Any], rows: dict[str, PatientRow], now: datetime) -> None:
    """The latest value of each metric, its direction against the one before, and NEWS2."""
    pairs: dict[tuple[str, str], list[tuple[float, datetime]]] = defaultdict(list)
    for patient_id, metric, value, ts in _latest_rows(session, ids, now):
        pairs[(patient_id, metric)].append((float(value), ts))
    for (patient_id, metric), values in pairs.items():
        row = rows[patient_id]
        (value, ts), before = values[0], (values[1][0] if len(values) > 1 else None)
        if metric not in DEVICE_METRICS:
            row.latest.append(Latest(metric, value, ts, _direction(value, before)))
            if row.last_reading_at is None or ts > row.last_reading_at:
                row.last_reading_at = ts
    for row in rows.values():
        row.latest.sort(key=lambda item: item.metric)
        inputs = {Metric(x.metric): (x.ts.timestamp(), x.value) for x in row.latest}
        score = news2_latest(inputs, now=now.timestamp())
        present = [p for p in NEWS2_METRICS if p not in score.missing]
        if len(present) >= NEWS2_MIN_PARAMETERS:
            row.news2, row.news2_risk, row.news2_missing = score.total, score.risk, score.missing


def _gateway_problems(
    session: Session, ids: Select[Any], rows: dict[str, PatientRow], now: datetime
) -> None:
    """Gateways the patients' current pairings go through that are offline."""
    offline = session.execute(
        select(Pairing.patient_id, GatewayRecord.id, GatewayRecord.state)
        .join(Device, Device.id == Pairing.device_id)
        .join(GatewayRecord, GatewayRecord.id == Device.gateway_id)
        .where(
            Pairing.patient_id.in_(ids),
            Pairing.valid_from <= now,
            or_(Pairing.valid_to.is_(None), Pairing.valid_to > now),
        )
        .distinct()
    ).all()
    for patient_id, gateway_id, state in offline:
        if state == "offline" and gateway_id not in rows[patient_id].gateway_problems:
            rows[patient_id].gateway_problems.append(gateway_id)


def population(
    session: Session, *, principal: Principal, now: datetime, filters: Filters | None = None
) -> list[PatientRow]:
    """Every patient the caller may see (after ``filters``), most in need first."""
    ids = _scope(principal, filters or Filters())
    found = session.execute(
        select(Patient.id, Patient.display_name, Patient.program_id).where(Patient.id.in_(ids))
    ).all()
    rows = {
        pid: PatientRow(patient_id=pid, display_name=name, program=program)
        for pid, name, program in found
    }
    if rows:
        _open_alerts(session, ids, rows)
        _latest(session, ids, rows, now)
        _gateway_problems(session, ids, rows, now)
        today: date = now.date()
        since, until = today - timedelta(days=PERIOD_DAYS - 1), today + timedelta(days=1)
        for patient_id, days in data_day_counts(session, ids, since=since, until=until).items():
            rows[patient_id].data_days = days
    return sorted(rows.values(), key=lambda r: r.need(now))
