"""Alerts from what gateways report: edge events, and a gateway going offline.

* Device problems (low battery, unreachable, cuff error, clock drift…) become alerts of
  the ``device`` category, one per patient, device and problem, resolved by the gateway's
  all-clear for it. A gateway whose last will says ``offline`` opens a ``device`` alert for
  each patient it serves; its ``online`` status resolves them.
* Clinical events fired at the edge (the gateway judges with the same ``gateway.signal``
  rules the cloud sends it) reconcile with the cloud's alerts: an edge fire merges into
  the open alert of the same patient and rule, or opens it when the edge was first (it
  was offline; events leave its outbox before readings), recording that the edge fired.
  Finding ids are the same on both sides, so when the cloud then judges the same episode
  from the readings it merges without counting it twice. An edge all-clear is recorded;
  the cloud's own evaluation of the readings resolves the alert.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

import structlog
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from cloud.alerts.service import AlertChange, open_alert, open_alert_of, resolve_all_clear
from cloud.store.models import Alert, GatewayRecord
from cloud.store.tenancy import Device, Pairing
from gateway import wire

log = structlog.get_logger(__name__)

GATEWAY_OFFLINE: Final = "gateway_offline"
RECENT_ALERTS: Final = 5
"""Closed alerts of a rule checked for an edge event the cloud already handled."""


def device_rule_id(code: str, subject: str | None) -> str:
    """``device.low_battery:hrm-1``: one alert per problem and device (or gateway)."""
    return f"device.{code}:{subject or '-'}"[:128]


def _edge_note(event: wire.Event, gateway_id: str) -> dict[str, Any]:
    return {
        "event_id": event.id,
        "gateway_id": gateway_id,
        "ts": event.ts.isoformat(),
        "kind": event.kind.value,
        "value": event.value,
    }


def device_event(
    session: Session, event: wire.Event, *, gateway_id: str, now: datetime, channels: Sequence[str]
) -> AlertChange | None:
    """A device problem starts (opens or merges) or ends (resolves) its device alert."""
    if event.patient_id is None or event.code is None:
        return None  # stored as an event; no patient to put an alert on
    rule_id = device_rule_id(event.code, event.device_id)
    alert = open_alert_of(session, event.patient_id, rule_id)
    note = _edge_note(event, gateway_id)
    if event.kind is wire.EventKind.ALL_CLEAR:
        return (
            None
            if alert is None
            else resolve_all_clear(
                session, alert, now=now, value=None, evidence=note, channel="edge"
            )
        )
    value = float(event.value) if event.value is not None else 0.0
    if alert is not None:
        alert.count += 1
        alert.last_value, alert.updated_at = value, now
        return AlertChange(alert.id, "merged")
    alert = open_alert(
        session,
        patient_id=event.patient_id,
        rule_id=rule_id,
        rule_version=1,
        category=wire.Category.DEVICE.value,
        priority=(event.priority or wire.Priority.LOW).value,
        metric=event.metric.value if event.metric else "device",
        value=value,
        evidence={
            "source": "edge",
            "ts": event.ts.isoformat(),
            "code": event.code,
            "device_id": event.device_id,
            "evidence": event.evidence,
            "edge": [note],
        },
        now=now,
        channels=channels,
        channel="edge",
    )
    return AlertChange(alert.id, "opened")


def clinical_event(
    session: Session, event: wire.Event, *, gateway_id: str, now: datetime, channels: Sequence[str]
) -> AlertChange | None:
    """Reconcile an edge-fired clinical (or missing-data) event with the cloud's alerts."""
    if event.patient_id is None or event.rule is None or event.metric is None:
        return None
    note = _edge_note(event, gateway_id)
    alert = open_alert_of(session, event.patient_id, event.rule)
    if event.kind is wire.EventKind.ALL_CLEAR:
        if alert is not None:
            alert.evidence = {**alert.evidence, "edge": [*alert.evidence.get("edge", []), note]}
        return None
    if alert is None:
        alert = _handled_before(session, event)
        if alert is not None:  # the cloud judged (and closed) this episode already
            alert.evidence = {**alert.evidence, "edge": [*alert.evidence.get("edge", []), note]}
            return None
    if alert is not None:
        same = event.id == alert.evidence.get("finding_id")
        alert.evidence = {
            **alert.evidence,
            "edge": [*alert.evidence.get("edge", []), note],
            "edge_event_ids": [*alert.evidence.get("edge_event_ids", []), event.id],
        }
        if not same:
            alert.count += 1
        alert.updated_at = now
        return AlertChange(alert.id, "merged")
    value = float(event.value) if event.value is not None else 0.0
    alert = open_alert(
        session,
        patient_id=event.patient_id,
        rule_id=event.rule,
        rule_version=event.rule_version or 1,
        category=event.category.value,
        priority=(event.priority or wire.Priority.MEDIUM).value,
        metric=event.metric.value,
        value=value,
        evidence={
            "source": "edge",
            "patient_id": event.patient_id,
            "rule": event.rule,
            "ts": event.ts.isoformat(),
            "metric": event.metric.value,
            "value": value,
            "evidence": event.evidence,
            "edge": [note],
            "edge_event_ids": [event.id],
        },
        now=now,
        channels=channels,
        channel="edge",
    )
    return AlertChange(alert.id, "opened")


def _handled_before(session: Session, event: wire.Event) -> Alert | None:
    recent = session.scalars(
        select(Alert)
        .where(Alert.patient_id == event.patient_id, Alert.rule_id == event.rule)
        .order_by(Alert.id.desc())
        .limit(RECENT_ALERTS)
    ).all()
    return next((a for a in recent if a.evidence.get("finding_id") == event.id), None)


def events(
    session: Session,
    fresh: Iterable[tuple[str, wire.Event]],
    *,
    now: datetime,
    channels: Sequence[str],
) -> list[tuple[str, AlertChange | None]]:
    """Carry newly stored edge events into alerts; (event id, change) for each."""
    out = []
    for gateway_id, event in sorted(fresh, key=lambda pair: pair[1].ts):
        if event.kind is wire.EventKind.PAIRING:
            change = None  # a device paired or its first reading: news, not a problem
        elif event.category is wire.Category.DEVICE:
            change = device_event(session, event, gateway_id=gateway_id, now=now, channels=channels)
        elif event.kind in (wire.EventKind.ALERT, wire.EventKind.ALL_CLEAR):
            change = clinical_event(
                session, event, gateway_id=gateway_id, now=now, channels=channels
            )
        else:
            change = None
        out.append((event.id, change))
    return out


def patients_of_gateway(session: Session, gateway_id: str, *, now: datetime) -> list[str]:
    """The patients with a device paired through the gateway now."""
    rows = session.scalars(
        select(Pairing.patient_id)
        .join(Device, Device.id == Pairing.device_id)
        .where(
            Device.gateway_id == gateway_id,
            Pairing.valid_from <= now,
            or_(Pairing.valid_to.is_(None), Pairing.valid_to > now),
        )
        .distinct()
    ).all()
    return sorted(rows)


def gateway_states(
    session: Session,
    statuses: Mapping[str, wire.Status],
    *,
    now: datetime,
    channels: Sequence[str],
) -> list[AlertChange]:
    """Call before the statuses are recorded: a change to ``offline`` (the last will) opens a
    device alert per patient of the gateway; back ``online`` resolves them."""
    changes: list[AlertChange] = []
    for gateway_id, status in sorted(statuses.items()):
        record = session.get(GatewayRecord, gateway_id)
        before = record.state if record is not None else None
        offline = status.state is wire.GatewayState.OFFLINE
        if offline == (before == wire.GatewayState.OFFLINE.value):
            continue
        rule_id = device_rule_id(GATEWAY_OFFLINE, gateway_id)
        for patient_id in patients_of_gateway(session, gateway_id, now=now):
            alert = open_alert_of(session, patient_id, rule_id)
            note = {"gateway_id": gateway_id, "ts": status.ts.isoformat(), "state": status.state}
            if not offline:
                if alert is not None:
                    changes.append(
                        resolve_all_clear(
                            session, alert, now=now, value=None, evidence=note, channel="edge"
                        )
                    )
                continue
            if alert is not None:
                continue
            alert = open_alert(
                session,
                patient_id=patient_id,
                rule_id=rule_id,
                rule_version=1,
                category=wire.Category.DEVICE.value,
                priority=wire.Priority.MEDIUM.value,
                metric="device",
                value=0.0,
                evidence={
                    "source": "status",
                    "code": GATEWAY_OFFLINE,
                    **note,
                    "advice": "check the gateway has power and its network",
                },
                now=now,
                channels=channels,
                channel="edge",
            )
            changes.append(AlertChange(alert.id, "opened"))
        if offline:
            log.warning("gateway.offline", gateway_id=gateway_id)
    return changes
