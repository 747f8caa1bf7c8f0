"""Billing readiness and engagement per organisation, from the record.

Days with data come from the daily rollups ingest keeps (one row per patient, metric and
day), so a month of a 1 Hz stream costs a handful of rows. The rules are the pure
functions of ``cloud.engagement.billing`` and ``cloud.engagement.measures``.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Final

from sqlalchemy import Integer, Select, cast, func, select
from sqlalchemy.orm import Session

from cloud.engagement import billing, measures
from cloud.engagement.replies import ReplyIntent
from cloud.errors import InvalidRequestError
from cloud.reports.schemas import BillingReport, BillingRow, EngagementReport, EngagementRow
from cloud.store import latest
from cloud.store.latest import DataDay
from cloud.store.lifecycle import Message
from cloud.store.rollups import Period, Rollup
from cloud.store.tenancy import Patient
from cloud.store.timelog import TimeEntry

MAX_CLOCK_SKEW: Final = timedelta(minutes=5)
"""Time may be logged this far ahead of the server's clock (a client's clock runs fast)."""
DEVICE_METRICS: Final = latest.DEVICE_METRICS
"""Readings about the device, not the patient: no day of physiologic data (99454 / 99445)."""


def month_start(month: str) -> date:
    year, mon = (int(x) for x in month.split("-"))
    return date(year, mon, 1)


def _next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def data_days(
    session: Session, patient_ids: Sequence[str], *, since: date, until: date
) -> dict[str, set[date]]:
    """Days in ``[since, until)`` on which each patient has physiologic readings."""
    rows = session.execute(
        select(Rollup.patient_id, Rollup.start)
        .where(
            Rollup.patient_id.in_(patient_ids),
            Rollup.period == Period.DAY.value,
            Rollup.metric.not_in(DEVICE_METRICS),
            Rollup.start >= _midnight(since),
            Rollup.start < _midnight(until),
        )
        .distinct()
    ).all()
    out: dict[str, set[date]] = defaultdict(set)
    for patient_id, start in rows:
        out[patient_id].add(start.astimezone(UTC).date())
    return out


def data_day_counts(
    session: Session, patient_ids: Select[tuple[str]] | Sequence[str], *, since: date, until: date
) -> dict[str, int]:
    """How many days in ``[since, until)`` each patient has physiologic readings, counted by
    the database from the days with data ingest keeps (``cloud.store.latest``: one row a
    patient-day, the same days ``data_days`` finds in the daily rollups)."""
    # Counted before the patients are picked: a plan that holds however fresh the table's
    # statistics are (one probe a patient, not one a patient-day).
    counted = (
        select(DataDay.patient_id, func.count().label("days"))
        .where(DataDay.start >= _midnight(since), DataDay.start < _midnight(until))
        .group_by(DataDay.patient_id)
        .subquery()
    )
    rows = session.execute(
        select(counted.c.patient_id, counted.c.days).where(counted.c.patient_id.in_(patient_ids))
    ).all()
    return {patient_id: int(n) for patient_id, n in rows}


def log_time(
    session: Session,
    *,
    patient: Patient,
    user_id: int,
    minutes: int,
    interactive: bool,
    note: str | None,
    at: datetime | None,
    now: datetime,
) -> TimeEntry:
    """Record minutes spent on the patient's care (``at``: when; now by default); refused
    for the future beyond a small clock skew. The caller commits."""
    when = at.astimezone(UTC) if at else now
    if when > now + MAX_CLOCK_SKEW:
        raise InvalidRequestError("time can be logged for work done, not in the future")
    entry = TimeEntry(
        organisation_id=patient.organisation_id, patient_id=patient.id, user_id=user_id,
        at=when, minutes=minutes, interactive=interactive, note=note, created_at=now,
    )  # fmt: skip
    session.add(entry)
    return entry


def time_logged(
    session: Session, patient_ids: Sequence[str], *, since: date, until: date
) -> dict[str, tuple[int, bool]]:
    """Minutes logged per patient in ``[since, until)`` and whether any was interactive."""
    rows = session.execute(
        select(
            TimeEntry.patient_id,
            func.sum(TimeEntry.minutes),
            func.max(cast(TimeEntry.interactive, Integer)),
        )
        .where(
            TimeEntry.patient_id.in_(patient_ids),
            TimeEntry.at >= _midnight(since),
            TimeEntry.at < _midnight(until),
        )
        .group_by(TimeEntry.patient_id)
    ).all()
    return {pid: (int(total or 0), bool(inter)) for pid, total, inter in rows}


def billing_report(
    session: Session, *, organisation_id: str, patient_ids: Sequence[str], month: str, today: date
) -> BillingReport:
    start = month_start(month)
    end = start + timedelta(days=billing.PERIOD_DAYS)
    as_of = min(today, end - timedelta(days=1))
    days = data_days(session, patient_ids, since=start, until=end)
    logged = time_logged(session, patient_ids, since=start, until=_next_month(start))
    rows = []
    totals: dict[str, int] = defaultdict(int)
    for pid in sorted(patient_ids):
        supply = billing.supply_status(days.get(pid, set()), period_start=start, today=as_of)
        minutes, interactive = logged.get(pid, (0, False))
        codes = billing.management_codes(minutes, interactive_communication=interactive)
        for code in [supply.code, *codes]:
            if code is not None:
                totals[code] += 1
        rows.append(
            BillingRow(
                patient_id=pid,
                days_with_data=supply.days_with_data,
                supply_code=supply.code,
                projected_days=supply.projected_days,
                at_risk=supply.at_risk,
                minutes=minutes,
                interactive=interactive,
                management_codes=codes,
            )
        )
    return BillingReport(
        organisation_id=organisation_id,
        month=month,
        period_start=start,
        period_end=end - timedelta(days=1),
        as_of=as_of,
        patients=rows,
        totals=dict(totals),
    )


@dataclass
class Thread:
    """One patient's conversation in the report's window."""

    prompts: list[datetime] = field(default_factory=list)
    replies: list[datetime] = field(default_factory=list)
    ratings: list[int] = field(default_factory=list)
    acknowledged: int = 0


def conversations(
    session: Session, patient_ids: Sequence[str], *, since: date, until: date
) -> dict[str, Thread]:
    """Messages delivered to each patient and their replies in ``[since, until)``."""
    rows = session.execute(
        select(
            Message.patient_id, Message.direction, Message.at, Message.intent, Message.rating
        ).where(
            Message.patient_id.in_(patient_ids),
            Message.at >= _midnight(since),
            Message.at < _midnight(until),
            Message.outcome.in_(("sent", "attached")),
        )
    ).all()
    out: dict[str, Thread] = defaultdict(Thread)
    for pid, direction, at, intent, rating in rows:
        if pid is None:
            continue
        thread = out[pid]
        if direction == "outbound":
            thread.prompts.append(at)
            continue
        thread.replies.append(at)
        if rating is not None:
            thread.ratings.append(rating)
        thread.acknowledged += intent == ReplyIntent.FEELS_FINE.value
    return out


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def engagement_report(
    session: Session, *, organisation_id: str, patient_ids: Sequence[str], today: date
) -> EngagementReport:
    window_start = today - timedelta(days=measures.ADHERENCE_WINDOW_DAYS - 1)
    month_first = today.replace(day=1)
    days = data_days(
        session, patient_ids, since=min(window_start, month_first), until=today + timedelta(1)
    )
    last = dict(
        session.execute(
            select(Rollup.patient_id, func.max(Rollup.start))
            .where(Rollup.patient_id.in_(patient_ids), Rollup.period == Period.DAY.value)
            .group_by(Rollup.patient_id)
        ).all()
    )
    logged = time_logged(session, patient_ids, since=month_first, until=_next_month(month_first))
    talk = conversations(session, patient_ids, since=window_start, until=today + timedelta(1))
    rows, delays = [], []
    for pid in sorted(patient_ids):
        mine = days.get(pid, set())
        last_day = last[pid].astimezone(UTC).date() if pid in last else None
        supply = billing.supply_status(mine, period_start=month_first, today=today)
        thread = talk.get(pid, Thread())
        delays += measures.reply_delays(thread.prompts, thread.replies)
        answered = measures.responsiveness(thread.prompts, thread.replies)
        felt = measures.sentiment(thread.ratings)
        rows.append(
            EngagementRow(
                patient_id=pid,
                adherence_days=measures.adherence_days(mine, today=today),
                last_reading=last_day,
                stopped_measuring=measures.stopped_measuring(last_day, today=today),
                at_risk=supply.at_risk,
                minutes_this_month=logged.get(pid, (0, False))[0],
                messages_sent=answered.prompts,
                replies=len(thread.replies),
                reply_rate=_round(answered.reply_rate, 3),
                median_reply_s=answered.median_reply_s,
                plans_acknowledged=thread.acknowledged,
                ratings=felt.ratings,
                mean_rating=felt.mean,
                promoters=felt.promoters,
                passives=felt.passives,
                detractors=felt.detractors,
                nps=felt.nps,
            )
        )
    n = len(rows)
    prompts = sum(r.messages_sent for r in rows)
    everyone = measures.sentiment(r for t in talk.values() for r in t.ratings)
    summary: dict[str, float | int | None] = {
        "patients": n,
        "adherent_16_days": sum(r.adherence_days >= billing.DAYS_99454 for r in rows),
        "at_risk": sum(r.at_risk for r in rows),
        "stopped_measuring": sum(r.stopped_measuring for r in rows),
        "mean_adherence_days": round(sum(r.adherence_days for r in rows) / n, 1) if n else None,
        "minutes_this_month": sum(r.minutes_this_month for r in rows),
        "messages_sent": prompts,
        "replies": sum(r.replies for r in rows),
        "reply_rate": round(len(delays) / prompts, 3) if prompts else None,
        "median_reply_s": statistics.median(delays) if delays else None,
        "plans_acknowledged": sum(r.plans_acknowledged for r in rows),
        "ratings": everyone.ratings,
        "mean_rating": everyone.mean,
        "promoters": everyone.promoters,
        "passives": everyone.passives,
        "detractors": everyone.detractors,
        "nps": everyone.nps,
    }
    return EngagementReport(
        organisation_id=organisation_id, as_of=today, patients=rows, summary=summary
    )
