"""Open, merge and clear alerts from newly stored readings, inside the ingest transaction.

Evaluation is done with the readings already in the record, so a condition spanning two
MQTT batches is seen whole; repeats merge into the one open alert (count, last and worst
value); values back inside the clear level end it ("all clear"). Deliveries are queued in
the same transaction, so an alert committed is an alert that will be sent.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.alerts.rules import DEFAULT_RULES, FixedRule
from cloud.store.models import Alert, Delivery, Reading

OPEN_STATES = ("open", "acknowledged")


@dataclass(frozen=True, slots=True)
class AlertChange:
    alert_id: int
    change: str  # "opened" | "merged" | "resolved"


def _sequence(session: Session, patient_id: str, rule: FixedRule, since: datetime) -> list[Reading]:
    """Usable readings from ``since`` on, preceded by the few a persistence window needs."""
    base = select(Reading).where(
        Reading.patient_id == patient_id,
        Reading.metric == rule.metric.value,
        Reading.usable.is_(True),
    )
    before = session.scalars(
        base.where(Reading.ts < since).order_by(Reading.ts.desc()).limit(rule.persistence_count - 1)
    ).all()
    after = session.scalars(base.where(Reading.ts >= since).order_by(Reading.ts)).all()
    return [*reversed(before), *after]


def _open_alert(session: Session, patient_id: str, rule: FixedRule) -> Alert | None:
    return session.scalars(
        select(Alert).where(
            Alert.patient_id == patient_id,
            Alert.rule_id == rule.rule_id,
            Alert.status.in_(OPEN_STATES),
        )
    ).first()


def evaluate(
    session: Session,
    touched: Mapping[tuple[str, str], datetime],
    *,
    now: datetime,
    channels: Sequence[str],
    rules: Sequence[FixedRule] = DEFAULT_RULES,
) -> list[AlertChange]:
    """Apply ``rules`` to each (patient, metric) from the earliest new reading's time on."""
    changes: list[AlertChange] = []
    for (patient_id, metric), since in sorted(touched.items()):
        for rule in rules:
            if rule.metric.value == metric:
                changes.extend(_apply(session, patient_id, rule, since, now=now, channels=channels))
    return changes


def _apply(
    session: Session,
    patient_id: str,
    rule: FixedRule,
    since: datetime,
    *,
    now: datetime,
    channels: Sequence[str],
) -> list[AlertChange]:
    """Walk the readings in time order: open on persistence, merge repeats, clear with hysteresis."""
    seq = _sequence(session, patient_id, rule, since)
    alert = _open_alert(session, patient_id, rule)
    k = rule.persistence_count
    changes: list[AlertChange] = []
    for i in range(k - 1, len(seq)):
        window = seq[i - k + 1 : i + 1]
        reading = seq[i]
        if reading.ts < since:
            continue
        firing = all(rule.fires(r.value) for r in window)
        if alert is None and firing:
            alert = _open(session, patient_id, rule, window, now=now, channels=channels)
            changes.append(AlertChange(alert.id, "opened"))
        elif alert is not None and firing:
            alert.count += 1
            alert.last_value = reading.value
            alert.worst_value = rule.worse(alert.worst_value, reading.value)
            alert.updated_at = now
            changes.append(AlertChange(alert.id, "merged"))
        elif alert is not None and rule.cleared(reading.value):
            alert.status = "resolved"
            alert.resolved_at = now
            alert.updated_at = now
            alert.last_value = reading.value
            clear = {"reading_id": reading.id, "ts": reading.ts.isoformat(), "value": reading.value}
            alert.evidence = {**alert.evidence, "all_clear": clear}
            changes.append(AlertChange(alert.id, "resolved"))
            alert = None
    return changes


def _open(
    session: Session,
    patient_id: str,
    rule: FixedRule,
    window: Sequence[Reading],
    *,
    now: datetime,
    channels: Sequence[str],
) -> Alert:
    latest = window[-1]
    alert = Alert(
        patient_id=patient_id,
        rule_id=rule.rule_id,
        rule_version=rule.version,
        category=rule.category.value,
        priority=rule.priority.value,
        metric=rule.metric.value,
        status="open",
        opened_at=now,
        updated_at=now,
        resolved_at=None,
        first_value=latest.value,
        last_value=latest.value,
        worst_value=functools.reduce(rule.worse, (r.value for r in window)),
        count=1,
        evidence=_evidence(rule, window),
    )
    session.add(alert)
    session.flush()
    for index, label in enumerate(channels):
        session.add(
            Delivery(
                alert_id=alert.id,
                channel=label,
                target_index=index,
                status="pending",
                attempts=0,
                created_at=now,
                next_attempt_at=now,
            )
        )
    return alert


def _evidence(rule: FixedRule, window: Sequence[Reading]) -> dict[str, object]:
    return {
        "rule": {
            "id": rule.rule_id,
            "version": rule.version,
            "fire_high": rule.fire_high,
            "fire_low": rule.fire_low,
            "clear_high": rule.clear_high,
            "clear_low": rule.clear_low,
            "persistence_count": rule.persistence_count,
        },
        "readings": [
            {"id": r.id, "ts": r.ts.isoformat(), "value": r.value, "unit": r.unit} for r in window
        ],
        "features": {"consecutive_beyond_fire_level": len(window)},
    }
