"""Attacks on ingest over a real Mosquitto and worker, on SQLite and PostgreSQL: a gateway
writes only for the patients and devices its organisation pairs through it, cannot take
another gateway's reading ids, and cannot open alerts or change records by forged events
or statuses. What each attack leaves in the database is asserted, not only the refusal.

The world: ``north`` pairs cuff ``cuff-1`` to ``p-n1`` through ``gw-1`` (the stack's
publisher); ``south`` pairs ``cuff-s`` to ``p-s1`` through ``gw-south``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud.store.models import Alert, DeadLetter, GatewayRecord, QuarantinedReading, Reading
from cloud.tenancy import service as tenancy
from gateway import wire
from tests.fixtures.api import World
from tests.fixtures.bindings import bind, revoke
from tests.fixtures.ingest import Publisher
from tests.fixtures.mosquitto import Mosquitto
from tests.fixtures.waiting import wait_until
from tests.test_wire import batch, reading

pytestmark = pytest.mark.broker

NOW = datetime.now(UTC).replace(microsecond=0)
RECENT = (NOW - timedelta(minutes=5)).isoformat()


def bp(
    rid: str, value: float, *, patient_id: str = "p-n1", device_id: str = "cuff-1"
) -> dict[str, Any]:
    return reading(
        id=rid,
        patient_id=patient_id,
        device_id=device_id,
        metric="systolic_bp",
        unit="mm[Hg]",
        value=value,
        ts=RECENT,
    )


@pytest.fixture
def scene(world: World, stack: Any, broker: Mosquitto) -> Iterator[dict[str, Any]]:
    sessions, real = stack
    bind(sessions, organisation="north", gateway_id="gw-1", pairs=[("p-n1", "cuff-1")])
    bind(sessions, organisation="south", gateway_id="gw-south", pairs=[("p-s1", "cuff-s")])
    bind(sessions, organisation="north", gateway_id="gw-north-2", pairs=[])
    pubs = {g: Publisher(broker, gateway_id=g) for g in ("gw-south", "gw-north-2", "gw-ghost")}
    yield {"sessions": sessions, "real": real, "world": world, **pubs}
    for pub in pubs.values():
        pub.close()


def publish_acked(pub: Publisher, payload: bytes, batch_id: str, leaf: str = "readings") -> None:
    before = pub.acks.count(batch_id)
    pub.publish(payload, leaf)
    wait_until(lambda: pub.acks.count(batch_id) > before, what=f"the ack of {batch_id}")


def stored(sessions: sessionmaker[Session]) -> list[tuple[str, str, str, float]]:
    """Readings that came through ingest (the API world seeds some of gateway ``gw-x``)."""
    with sessions() as s:
        rows = s.execute(
            select(Reading.gateway_id, Reading.id, Reading.patient_id, Reading.value)
            .where(Reading.gateway_id != "gw-x")
            .order_by(Reading.gateway_id, Reading.id)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


def quarantined(sessions: sessionmaker[Session]) -> dict[tuple[str, str], tuple[str | None, str]]:
    with sessions() as s:
        return {
            (q.gateway_id, q.id): (q.organisation_id, q.reason)
            for q in s.scalars(select(QuarantinedReading))
        }


def conflicts_counted() -> float:
    """``metrics.INGEST_CONFLICTS`` as a scrape shows it."""
    return REGISTRY.get_sample_value("vitalgate_ingest_conflicts_total") or 0.0


def refused_events() -> float:
    """``metrics.INGEST_REFUSED`` for events, as a scrape shows it."""
    return REGISTRY.get_sample_value("vitalgate_ingest_refused_total", {"kind": "events"}) or 0.0


def test_a_squatted_id_does_not_hide_the_real_reading(scene: dict[str, Any]) -> None:
    sessions, real = scene["sessions"], scene["real"]
    # Three squatters publish the real cuff's next reading id first, with a harmless value.
    for name in ("gw-south", "gw-north-2", "gw-ghost"):
        publish_acked(scene[name], batch(bp("bp-1", 120), gateway_id=name, batch_id="sq"), "sq")
    publish_acked(real, batch(bp("bp-1", 240), batch_id="b-real"), "b-real")
    assert stored(sessions) == [("gw-1", "bp-1", "p-n1", 240.0)]
    assert quarantined(sessions) == {
        ("gw-south", "bp-1"): ("south", "device cuff-1 is not registered in this organisation"),
        ("gw-north-2", "bp-1"): ("north", "device cuff-1 is registered to another gateway"),
        ("gw-ghost", "bp-1"): (None, "gateway gw-ghost is not registered: provision it first"),
    }
    with sessions() as s:
        opened = s.scalars(select(Alert).where(Alert.rule_id == "general.sbp")).all()
    assert [(a.patient_id, a.priority, a.first_value) for a in opened] == [("p-n1", "high", 240.0)]


def test_the_same_key_with_other_content_is_a_counted_conflict(scene: dict[str, Any]) -> None:
    sessions, real = scene["sessions"], scene["real"]
    before = conflicts_counted()
    publish_acked(real, batch(bp("bp-2", 130), batch_id="b-1"), "b-1")
    publish_acked(real, batch(bp("bp-2", 130), batch_id="b-1"), "b-1")  # a harmless repeat
    assert quarantined(sessions) == {}
    publish_acked(real, batch(bp("bp-2", 90), batch_id="b-2"), "b-2")
    # Two readings of one key inside one batch: the first is the reading, the other a conflict.
    publish_acked(real, batch(bp("bp-3", 125), bp("bp-3", 126), batch_id="b-3"), "b-3")
    assert stored(sessions) == [("gw-1", "bp-2", "p-n1", 130.0), ("gw-1", "bp-3", "p-n1", 125.0)]
    assert quarantined(sessions) == {
        ("gw-1", "bp-2"): ("north", "conflict"),
        ("gw-1", "bp-3"): ("north", "conflict"),
    }
    with sessions() as s:
        values = dict(s.execute(select(QuarantinedReading.id, QuarantinedReading.value)).all())
    assert values == {"bp-2": 90.0, "bp-3": 126.0}
    assert conflicts_counted() - before == 2


def test_readings_for_unknown_or_other_patients_stay_out_of_the_record(
    scene: dict[str, Any],
) -> None:
    sessions, real, world = scene["sessions"], scene["real"], scene["world"]
    publish_acked(
        real,
        batch(
            bp("bp-new", 150, patient_id="p-later"),
            bp("bp-s", 150, patient_id="p-s1"),
            batch_id="u",
        ),
        "u",
    )
    # The patient it named is created afterwards: the reading does not appear for them.
    with sessions.begin() as s:
        tenancy.create_patient(
            s,
            organisation_id="north",
            patient_id="p-later",
            display_name="L",
            program_id=None,
            now=NOW,
        )
    assert stored(sessions) == []
    assert quarantined(sessions) == {
        ("gw-1", "bp-new"): ("north", "patient p-later is not registered in this organisation"),
        ("gw-1", "bp-s"): ("north", "patient p-s1 is not registered in this organisation"),
    }
    # Each organisation's admins see their own gateways' quarantine, and only that.
    north = world.get("/api/v1/quarantine", "admin@north.test")
    south = world.get("/api/v1/quarantine", "admin@south.test")
    assert north.status_code == south.status_code == 200
    assert sorted(q["id"] for q in north.json()) == ["bp-new", "bp-s"]
    assert south.json() == []
    assert world.get("/api/v1/quarantine", "clin@north.test").status_code == 403


def event(**over: Any) -> wire.Event:
    base = {
        "id": "ev-1",
        "kind": "alert",
        "category": "clinical",
        "ts": NOW - timedelta(minutes=1),
        "patient_id": "p-n1",
        "device_id": "cuff-1",
        "rule": "general.sbp",
        "rule_version": 1,
        "priority": "high",
        "metric": "systolic_bp",
        "value": 250.0,
    }
    return wire.Event.model_validate({**base, **over})


def events_of(gateway_id: str, *items: wire.Event, batch_id: str) -> bytes:
    return wire.encode(
        wire.EventBatch(gateway_id=gateway_id, batch_id=batch_id, sent_at=NOW, events=items)
    )


def test_forged_events_open_no_alert(scene: dict[str, Any]) -> None:
    sessions, real = scene["sessions"], scene["real"]
    forged = {
        "gw-south": event(id="f-1"),  # another organisation's patient and device
        "gw-north-2": event(id="f-2", device_id=None),  # a patient not paired through it
        "gw-ghost": event(id="f-3"),  # an unregistered gateway
    }
    before = refused_events()
    for name, item in forged.items():
        publish_acked(scene[name], events_of(name, item, batch_id="e"), "e", leaf="events")
    assert refused_events() == before + 3
    with sessions() as s:
        assert s.scalars(select(Alert).where(Alert.rule_id == "general.sbp")).all() == []
        dead = {d.topic: d.reason for d in s.scalars(select(DeadLetter))}
    assert dead == {
        "vg/v1/gw-south/events": "refused: device cuff-1 is not registered in this organisation",
        "vg/v1/gw-north-2/events": "refused: patient p-n1 has no device paired through this "
        f"gateway at {(NOW - timedelta(minutes=1)).isoformat()}",
        "vg/v1/gw-ghost/events": "refused: gateway gw-ghost is not registered: provision it first",
    }
    # The same event from the gateway the cuff is paired through opens the alert.
    real.publish(events_of("gw-1", event(id="ok-1"), batch_id="e-ok"), "events")
    wait_until(lambda: "e-ok" in real.acks, what="the real event's ack")
    with sessions() as s:
        (alert,) = s.scalars(select(Alert).where(Alert.rule_id == "general.sbp")).all()
    assert (alert.patient_id, alert.evidence["source"]) == ("p-n1", "edge")


def status(gateway_id: str, state: str, config_version: int) -> bytes:
    body = {
        "schema": "vg.status/1",
        "gateway_id": gateway_id,
        "state": state,
        "ts": NOW.isoformat(),
        "config_version": config_version,
    }
    return json.dumps(body).encode()


def test_spoofed_and_revoked_statuses_change_nothing(scene: dict[str, Any]) -> None:
    sessions, real = scene["sessions"], scene["real"]
    real.publish(status("gw-1", "online", 3), "status")

    def record(gateway_id: str) -> tuple[str, Any] | None:
        with sessions() as s:
            gw = s.get(GatewayRecord, gateway_id)
            return (gw.state, gw.status.get("config_version")) if gw is not None else None

    wait_until(lambda: record("gw-1") == ("online", 3), what="the real status")
    scene["gw-ghost"].publish(status("gw-ghost", "offline", 999), "status")
    revoke(sessions, "gw-1", at=NOW)
    real.publish(status("gw-1", "offline", 999), "status")
    real.publish(batch(bp("bp-after", 240), batch_id="b-revoked"))
    wait_until(lambda: "b-revoked" in real.acks, what="the revoked gateway's batch")

    def dead_letters() -> list[tuple[str, str]]:
        with sessions() as s:
            return sorted((d.topic, d.reason) for d in s.scalars(select(DeadLetter)))

    wait_until(lambda: len(dead_letters()) == 2, what="two dead letters")
    dead = dead_letters()
    with sessions() as s:
        assert s.scalars(select(Alert).where(Alert.category == "device")).all() == []
    assert dead == [
        ("vg/v1/gw-1/status", "refused: gateway gw-1 is revoked"),
        (
            "vg/v1/gw-ghost/status",
            "refused: gateway gw-ghost is not registered: provision it first",
        ),
    ]
    assert record("gw-1") == ("online", 3)
    assert record("gw-ghost") is None
    assert stored(sessions) == []
    assert quarantined(sessions) == {("gw-1", "bp-after"): ("north", "gateway gw-1 is revoked")}
