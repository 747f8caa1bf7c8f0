"""The population at a glance: every patient a caller may see, ranked by need.

One pass of set queries for the whole panel (open alerts grouped, the latest two readings
per metric, days with data this billing period, gateway state) — never a query per patient,
so a panel of a thousand patients costs the same few round trips as a panel of ten. The
latest readings and the days with data come from the tables ingest keeps beside the
readings (``cloud.store.latest``): one row a series and one row a patient-day, not a search
of the readings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Final

from sqlalchemy import Select, func, or_, select, tuple_
from sqlalchemy.orm import Session

from cloud.api.deps import Principal
from cloud.auth.scope import visible_patient_ids
from cloud.engagement.billing import DAYS_99454
from cloud.reports.service import data_day_counts
from cloud.store.latest import DEVICE_METRICS, LatestValue
from cloud.store.models import Alert, AlertStatus, GatewayRecord, Reading
from cloud.store.tenancy import CareTeamMember, Device, Pairing, Patient, PatientTag
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
    tags: list[str] = field(default_factory=list)

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
    tag: str | None = None


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
    if filters.tag:
        tagged = select(PatientTag.patient_id).where(
            PatientTag.tag == " ".join(filters.tag.split()).lower()
        )
        stmt = stmt.where(Patient.id.in_(tagged))
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


Series = tuple[str, str]
"""``(patient_id, metric)``"""


def _latest_pairs(
    session: Session, ids: Select[Any], now: datetime
) -> dict[Series, list[tuple[float, datetime]]]:
    """Each series' latest usable reading in ``[now - LATEST_WINDOW, now]`` and the one
    before it in that window, as ``(value, ts)``, latest first."""
    since = now - LATEST_WINDOW
    stored = session.execute(
        select(
            LatestValue.patient_id, LatestValue.metric, LatestValue.value, LatestValue.ts,
            LatestValue.prev_value, LatestValue.prev_ts,
        ).where(LatestValue.patient_id.in_(ids), LatestValue.ts >= since)
    ).all()  # fmt: skip
    pairs: dict[Series, list[tuple[float, datetime]]] = {}
    ahead: list[Series] = []
    for patient_id, metric, value, ts, prev_value, prev_ts in stored:
        if ts > now:  # a gateway clock a little fast (triage allows it): look further down
            ahead.append((patient_id, metric))
            continue
        pair = [(float(value), ts)]
        if prev_value is not None and prev_ts is not None and prev_ts >= since:
            pair.append((float(prev_value), prev_ts))
        pairs[(patient_id, metric)] = pair
    if ahead:
        pairs |= _latest_from_readings(session, ahead, since, now)
    return pairs


def _latest_from_readings(
    session: Session, series: list[Series], since: datetime, now: datetime
) -> dict[Series, list[tuple[float, datetime]]]:
    """The same pairs searched in the readings, for the few series whose stored latest
    reading is later than ``now``."""
    postgres = session.get_bind().dialect.name == "postgresql"
    gateway, rid = (
        (Reading.gateway_id.collate("C"), Reading.id.collate("C"))
        if postgres
        else (Reading.gateway_id, Reading.id)
    )
    rank = (
        func.row_number()
        .over(
            partition_by=(Reading.patient_id, Reading.metric),
            order_by=(Reading.ts.desc(), gateway.desc(), rid.desc()),
        )
        .label("rank")
    )
    out: dict[Series, list[tuple[float, datetime]]] = {}
    for start in range(0, len(series), 500):
        recent = (
            select(Reading.patient_id, Reading.metric, Reading.value, Reading.ts, rank)
            .where(
                tuple_(Reading.patient_id, Reading.metric).in_(series[start : start + 500]),
                Reading.usable.is_(True),
                Reading.ts >= since,
                Reading.ts <= now,
            )
            .subquery()
        )
        for patient_id, metric, value, ts in session.execute(
            select(recent.c.patient_id, recent.c.metric, recent.c.value, recent.c.ts)
            .where(recent.c.rank <= 2)
            .order_by(recent.c.patient_id, recent.c.metric, recent.c.rank)
        ):
            out.setdefault((patient_id, metric), []).append((float(value), ts))
    return out


def _latest(session: Session, ids: Select[Any], rows: dict[str, PatientRow], now: datetime) -> None:
    """The latest value of each metric, its direction against the one before, and NEWS2."""
    for (patient_id, metric), values in _latest_pairs(session, ids, now).items():
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
        for patient_id, tag in session.execute(
            select(PatientTag.patient_id, PatientTag.tag)
            .where(PatientTag.patient_id.in_(ids))
            .order_by(PatientTag.tag)
        ):
            rows[patient_id].tags.append(tag)
    return sorted(rows.values(), key=lambda r: r.need(now))
