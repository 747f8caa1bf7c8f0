"""Observation search over the record, in the caller's scope (``cloud.auth.scope``).

One reading is one Observation, except blood pressure: the systolic reading stands for its
measurement's panel and the diastolic reading joins it as a component, so paging counts
panels, not halves of them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from cloud.api.deps import Principal
from cloud.auth.scope import visible_patient_ids
from cloud.errors import InvalidRequestError
from cloud.fhir.resources import NOT_OBSERVATIONS
from cloud.store.models import Reading
from gateway.wire import Metric

HIDDEN_METRICS: Final = frozenset(
    {*NOT_OBSERVATIONS, Metric.DIASTOLIC_BP.value, Metric.MEAN_ARTERIAL_PRESSURE.value}
)
"""Not an Observation of their own: device status, and the parts of a blood-pressure panel."""
_DATE: Final = re.compile(r"^(eq|ge|gt|le|lt)?(\d{4}-\d{2}-\d{2})(T[0-9:.]+(Z|[+-]\d{2}:\d{2}))?$")


@dataclass(frozen=True, slots=True)
class Window:
    since: datetime | None = None
    """Inclusive."""
    until: datetime | None = None
    """Exclusive."""


def parse_dates(values: Sequence[str]) -> Window:
    """FHIR ``date`` parameters (``ge``, ``gt``, ``le``, ``lt``, ``eq``; a day or an instant
    with its zone) as one UTC window."""
    since: datetime | None = None
    until: datetime | None = None
    for raw in values:
        found = _DATE.match(raw)
        if found is None:
            raise InvalidRequestError(
                f"date {raw!r}: use a prefix (ge, gt, le, lt, eq) and YYYY-MM-DD or an instant with its zone"
            )
        prefix = found.group(1) or "eq"
        try:
            if found.group(3):
                start = datetime.fromisoformat(found.group(2) + found.group(3)).astimezone(UTC)
                end = start + timedelta(microseconds=1)
            else:
                day = date.fromisoformat(found.group(2))
                start = datetime.combine(day, time(0), tzinfo=UTC)
                end = start + timedelta(days=1)
        except (ValueError, OverflowError) as exc:
            raise InvalidRequestError(f"date {raw!r} is not a real date") from exc
        if prefix in ("ge", "eq"):
            since = max(since, start) if since else start
        if prefix == "gt":
            since = max(since, end) if since else end
        if prefix in ("le", "eq"):
            until = min(until, end) if until else end
        if prefix == "lt":
            until = min(until, start) if until else start
    return Window(since, until)


@dataclass(frozen=True, slots=True)
class Found:
    readings: list[Reading]
    components: dict[str, list[Reading]]
    """Diastolic readings by the measurement id of their systolic reading."""
    total: int


def search(
    session: Session,
    *,
    principal: Principal,
    patient_id: str | None,
    metrics: set[str] | None,
    window: Window,
    count: int,
    offset: int,
) -> Found:
    """Observations newest first, at most ``count`` from ``offset``, and how many match."""
    where: list[ColumnElement[bool]] = [
        Reading.patient_id.in_(visible_patient_ids(principal)),
        Reading.usable.is_(True),
        Reading.metric.not_in(HIDDEN_METRICS),
    ]
    if patient_id is not None:
        where.append(Reading.patient_id == patient_id)
    if metrics is not None:
        where.append(Reading.metric.in_(metrics))
    if window.since is not None:
        where.append(Reading.ts >= window.since)
    if window.until is not None:
        where.append(Reading.ts < window.until)
    total = session.scalar(select(func.count()).select_from(Reading).where(*where)) or 0
    rows = list(
        session.scalars(
            select(Reading)
            .where(*where)
            .order_by(Reading.ts.desc(), Reading.id)
            .limit(count)
            .offset(offset)
        )
    )
    panels = [r.measurement_id for r in rows if r.metric == Metric.SYSTOLIC_BP and r.measurement_id]
    components: dict[str, list[Reading]] = {}
    if panels:
        for part in session.scalars(
            select(Reading).where(
                Reading.measurement_id.in_(panels),
                Reading.metric == Metric.DIASTOLIC_BP,
                Reading.patient_id.in_(visible_patient_ids(principal)),
            )
        ):
            components.setdefault(part.measurement_id or "", []).append(part)
    return Found(rows, components, int(total))
