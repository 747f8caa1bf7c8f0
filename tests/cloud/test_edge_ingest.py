"""Edge events and rollups over a real Mosquitto: stored once, acknowledged, bad ones
dead-lettered; device problems and a gateway's last will become device alerts; an edge
alert from a gateway that was offline and the cloud's own judgement make one alert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cloud.alerts.replay import burden
from cloud.auth import service as auth
from cloud.store.models import Alert, DeadLetter, EdgeEvent, EdgeRollup, GatewayRecord, Patient
from cloud.tenancy import service as tenancy
from gateway import wire
from gateway.ble.problems import ProblemTracker, device_event
from tests.fixtures.ingest import Publisher
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.broker

NOW = datetime.now(UTC).replace(microsecond=0)
T0 = NOW - timedelta(hours=2)


def seed(sessions: sessionmaker[Session]) -> None:
    """Patient p-1 with strap hrm-1, paired through gateway gw-1 (the publisher)."""
    with sessions.begin() as s:
        auth.create_organisation(s, organisation_id="org", name="Org", now=T0)
        tenancy.create_patient(
            s,
            organisation_id="org",
            patient_id="p-1",
            display_name="P",
            program_id="general",
            now=T0,
        )
        tenancy.provision_gateway(s, organisation_id="org", gateway_id="gw-1")
        tenancy.create_device(
            s,
            organisation_id="org",
            device_id="hrm-1",
            kind="hr_strap",
            address=None,
            gateway_id="gw-1",
            now=T0,
        )
        tenancy.create_patient(
            s,
            organisation_id="org",
            patient_id="p-2",
            display_name="Q",
            program_id="general",
            now=T0,
        )
        patient = s.get(Patient, "p-1")
        assert patient is not None
        tenancy.create_pairing(
            s,
            organisation_id="org",
            device_id="hrm-1",
            patient=patient,
            valid_from=T0 - timedelta(days=1),
            valid_to=None,
            now=T0,
        )


def events(*items: wire.Event, batch_id: str) -> bytes:
    return wire.encode(
        wire.EventBatch(gateway_id="gw-1", batch_id=batch_id, sent_at=NOW, events=items)
    )


def alerts(sessions: sessionmaker[Session], **where: Any) -> list[Alert]:
    with sessions() as s:
        return list(s.scalars(select(Alert).filter_by(**where).order_by(Alert.id)))


def count(sessions: sessionmaker[Session], model: Any) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_device_problems_are_device_alerts_stored_once(stack: tuple[Any, Publisher]) -> None:
    sessions, pub = stack
    seed(sessions)
    found: list[wire.Event] = []
    tracker = ProblemTracker("hrm-1", "p-1", found.append)
    tracker.battery(12, now=T0)
    tracker.battery(11, now=T0 + timedelta(minutes=1))  # still open: no second event
    tracker.battery(80, now=T0 + timedelta(hours=1))
    start, end = found
    pub.publish(events(start, batch_id="e-1"), "events")
    pub.publish(events(start, batch_id="e-1"), "events")  # at least once: a repeat
    wait_until(lambda: pub.acks == ["e-1", "e-1"], what="both deliveries acknowledged")
    (alert,) = alerts(sessions)
    assert (alert.patient_id, alert.rule_id, alert.category, alert.priority, alert.status) == (
        "p-1",
        "device.low_battery:hrm-1",
        "device",
        "low",
        "open",
    )
    assert (alert.metric, alert.first_value, alert.count) == ("battery_level", 12.0, 1)
    assert "batteries" in alert.evidence["evidence"]["advice"]
    assert alerts(sessions, category="clinical") == []

    pub.publish(events(end, batch_id="e-2"), "events")
    wait_until(lambda: alerts(sessions)[0].status == "resolved", what="the all-clear")
    with sessions() as s:
        stored = s.scalars(select(EdgeEvent).order_by(EdgeEvent.ts)).all()
    assert [(e.kind, e.code, e.alert_id) for e in stored] == [
        ("device", "low_battery", alert.id),
        ("all_clear", "low_battery", alert.id),
    ]


def test_pairing_events_are_stored_but_open_no_alert(stack: tuple[Any, Publisher]) -> None:
    sessions, pub = stack
    seed(sessions)
    paired = [
        device_event(kind=wire.EventKind.PAIRING, code=code, ts=T0 + timedelta(seconds=i),
                     device_id="hrm-1", patient_id="p-1", evidence={"kind": "hr_strap"})
        for i, code in enumerate(("paired", "first_reading"))
    ]  # fmt: skip
    pub.publish(events(*paired, batch_id="e-p"), "events")
    wait_until(lambda: pub.acks == ["e-p"], what="the pairing events acknowledged")
    assert count(sessions, EdgeEvent) == 2
    assert alerts(sessions) == []


def test_rollups_are_stored_once_and_bad_ones_dead_lettered(stack: tuple[Any, Publisher]) -> None:
    sessions, pub = stack
    seed(sessions)
    rollup = {
        "id": "ru-1",
        "patient_id": "p-1",
        "device_id": "hrm-1",
        "metric": "heart_rate",
        "unit": "/min",
        "start": T0,
        "end": T0 + timedelta(minutes=1),
        "count": 60,
        "min": 60,
        "max": 80,
        "mean": 70,
        "last": 72,
        "hrv": {"rmssd_ms": 40, "sdnn_ms": 50, "pnn50": 20, "mean_hr": 70, "n_intervals": 59},
    }
    good = wire.RollupBatch(
        gateway_id="gw-1",
        batch_id="ru-b1",
        sent_at=NOW,
        rollups=(wire.Rollup.model_validate(rollup),),
    )
    pub.publish(wire.encode(good), "rollups")
    pub.publish(wire.encode(good), "rollups")
    bad = wire.encode(good).replace(b'"mean":70.0', b'"mean":90.0')
    assert bad != wire.encode(good)
    pub.publish(bad, "rollups")
    pub.publish(wire.encode(good.model_copy(update={"gateway_id": "gw-2"})), "rollups")
    wait_until(lambda: count(sessions, DeadLetter) == 2, what="two dead letters")
    wait_until(lambda: pub.acks == ["ru-b1", "ru-b1"], what="the good batch acknowledged twice")
    with sessions() as s:
        (row,) = s.scalars(select(EdgeRollup)).all()
        reasons = [d.reason for d in s.scalars(select(DeadLetter).order_by(DeadLetter.id))]
    assert (row.count, row.mean, row.hrv and row.hrv["rmssd_ms"]) == (60, 70.0, 40.0)
    assert "mean must lie between min and max" in reasons[0]
    assert "does not match topic gateway" in reasons[1]


def status(state: wire.GatewayState, ts: datetime) -> bytes:
    return wire.encode(wire.Status(gateway_id="gw-1", state=state, ts=ts))


def test_gateway_offline_is_a_device_alert_for_its_patients(stack: tuple[Any, Publisher]) -> None:
    sessions, pub = stack
    seed(sessions)
    pub.publish(status(wire.GatewayState.ONLINE, T0), "status")
    wait_until(
        lambda: count(sessions, GatewayRecord) and _state(sessions) == "online", what="online"
    )
    assert alerts(sessions) == []
    pub.publish(status(wire.GatewayState.OFFLINE, T0 + timedelta(minutes=1)), "status")
    wait_until(lambda: alerts(sessions), what="the offline alert")
    pub.publish(status(wire.GatewayState.OFFLINE, T0 + timedelta(minutes=2)), "status")
    pub.publish(status(wire.GatewayState.ONLINE, T0 + timedelta(minutes=3)), "status")
    wait_until(lambda: alerts(sessions)[0].status == "resolved", what="back online")
    (alert,) = alerts(sessions)
    assert (alert.patient_id, alert.rule_id, alert.category, alert.priority) == (
        "p-1",
        "device.gateway_offline:gw-1",
        "device",
        "medium",
    )


def _state(sessions: sessionmaker[Session]) -> str | None:
    with sessions() as s:
        record = s.get(GatewayRecord, "gw-1")
        return record.state if record else None


def test_an_edge_alert_and_the_clouds_judgement_make_one_alert(
    stack: tuple[Any, Publisher],
) -> None:
    sessions, pub = stack
    seed(sessions)
    values = [70.0] * 5 + [140.0] * 8 + [70.0] * 3
    readings = [
        wire.Reading(
            id=f"hr-{i}",
            patient_id="p-1",
            device_id="hrm-1",
            metric=wire.Metric.HEART_RATE,
            value=v,
            unit="/min",
            ts=T0 + timedelta(minutes=i),
        )
        for i, v in enumerate(values)
    ]
    # What the gateway judged while offline (same rules, same code): general.hr fires.
    (fire,) = burden(readings, program="general")
    assert fire.rule == "general.hr"
    # Its outbox sends events before readings.
    pub.publish(events(fire.to_event(), batch_id="e-gw"), "events")
    wait_until(lambda: alerts(sessions), what="the edge-fired alert")
    (opened,) = alerts(sessions)
    assert (opened.rule_id, opened.category, opened.priority, opened.count) == (
        "general.hr",
        "clinical",
        "high",
        1,
    )
    assert opened.evidence["source"] == "edge"

    batch = wire.ReadingBatch(
        gateway_id="gw-1", batch_id="r-gw", sent_at=NOW, readings=tuple(readings)
    )
    pub.publish(wire.encode(batch))
    wait_until(lambda: alerts(sessions)[0].status == "resolved", what="the cloud's all-clear")
    (alert,) = alerts(sessions, rule_id="general.hr")
    assert alert.count == 1  # the same episode, seen from both sides: not counted twice
    assert alert.evidence["cloud_fired"] is True
    assert alert.evidence["finding_id"] == fire.id
    assert [e["event_id"] for e in alert.evidence["edge"]] == [fire.id]

    # A late repeat of the edge event (already handled) changes nothing.
    pub.publish(events(fire.to_event(), batch_id="e-gw2"), "events")
    wait_until(lambda: "e-gw2" in pub.acks, what="the repeat acknowledged")
    assert len(alerts(sessions)) == 1
    assert alerts(sessions)[0].count == 1

    # Cloud first, edge later (a new episode): the edge's report merges into it.
    later = [
        r.model_copy(update={"id": f"l-{r.id}", "ts": r.ts + timedelta(minutes=30)})
        for r in readings[:12]
    ]
    (fire2,) = burden(later, program="general")
    pub.publish(
        wire.encode(batch.model_copy(update={"batch_id": "r-gw2", "readings": tuple(later)}))
    )
    wait_until(lambda: len(alerts(sessions)) == 2, what="the cloud-fired alert")
    pub.publish(events(fire2.to_event(), batch_id="e-gw3"), "events")
    wait_until(lambda: alerts(sessions)[1].evidence.get("edge"), what="the edge's report")
    second = alerts(sessions)[1]
    assert (
        second.count,
        second.status,
        second.evidence.get("source", "cloud"),
    ) == (1, "open", "cloud")
