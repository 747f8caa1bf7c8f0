"""The gateway's cumulative counters equal what happened to its rows: seen by an independent
MQTT subscriber and by the cloud's record, through a cloud that is late (re-sends), a
database refusing a batch (a dead letter), and a broker outage long enough to thin the
outbox. The same figures reach the retained status, the cloud and ``/metrics``, and survive
a restart of the gateway."""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as paho
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from cloud.store.models import GatewayRecord, Reading
from firmware_sim.devices.hr_strap import HeartRateStrap
from firmware_sim.radio import SimRadio
from gateway.outbox import Counters, Outbox
from tests.fixtures.gateway import GatewayThread, drive, gateway_settings, paired
from tests.fixtures.mosquitto import Mosquitto
from tests.fixtures.net import free_port
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.broker

GATEWAY = "gw-test-1"
ROW_LEAVES = ("readings", "events", "rollups")


class Observer:
    """Every uplink batch the broker routes, counted by row, on a persistent session (the
    broker keeps its subscription and queue across a clean restart)."""

    def __init__(self, broker: Mosquitto) -> None:
        self.seen: Counter[str] = Counter()  # row key → times received
        self.readings: set[str] = set()
        self._lock = threading.Lock()
        self.client = broker.client("counters-observer")
        self.client.on_connect = lambda c, *_: c.subscribe(f"vg/v1/{GATEWAY}/+", qos=1)
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 1)
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 600
        self.client.connect(broker.host, broker.port, clean_start=False, properties=props)
        self.client.loop_start()

    def _on_message(self, _c: object, _u: object, msg: paho.MQTTMessage) -> None:
        leaf = msg.topic.rsplit("/", 1)[-1]
        if leaf not in ROW_LEAVES:
            return
        body = json.loads(msg.payload)
        with self._lock:
            for i, item in enumerate(body[leaf]):
                key = item.get("id") or f"{body['batch_id']}/{i}"
                self.seen[f"{leaf}/{key}"] += 1
                if leaf == "readings":
                    self.readings.add(item["id"])

    def unique(self) -> int:
        with self._lock:
            return len(self.seen)

    def repeats(self) -> int:
        with self._lock:
            return sum(self.seen.values()) - len(self.seen)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _metrics(port: int) -> dict[str, float]:
    body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    out = {}
    for line in body.splitlines():
        if line.startswith('vitalgate_gateway_outbox_rows_total{outcome="'):
            name, value = line.split()
            out[name.split('"')[1]] = float(value)
    return out


def test_counters_equal_what_happened_to_the_rows(
    broker: Mosquitto, cloud_factory: Any, tmp_path: Path
) -> None:
    observer = Observer(broker)
    radio = SimRadio()
    strap = radio.add(HeartRateStrap("C0:FF:EE:00:00:61", seed=61))
    web_port = free_port()
    settings = gateway_settings(
        broker,
        tmp_path / "gw",
        devices=[paired(strap, patient_id="p-61", device_id="hrm-61")],
        outbox_budget_mb=0.03,  # about 80 readings
        batch_size=10,
        window=2,
        ack_timeout_s=1.0,
        status_interval_s=0.5,
        web_port=web_port,
    )
    gw = GatewayThread(settings, radio, background=[drive(strap, count=60, period_s=0.005)])
    gateway = gw.start()
    engine = None
    try:
        # 1. No cloud yet: the first batches wait for an acknowledgement and are re-sent.
        wait_until(lambda: observer.repeats() > 0, timeout=20, what="a re-send")
        cloud = cloud_factory(
            broker, binding={"gateway_id": GATEWAY, "pairs": [("p-61", "hrm-61")]}
        )
        engine = create_engine(cloud.db_url)
        wait_until(lambda: len(strap.emitted) == 60, what="the first readings taken")
        wait_until(gw.settled, timeout=30, what="the first readings acknowledged")

        # 2. The database refuses heart rates for a while: those batches become dead letters.
        with engine.begin() as conn:
            conn.execute(
                text(
                    "CREATE TRIGGER no_hr BEFORE INSERT ON readings "
                    "WHEN NEW.metric = 'heart_rate' BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
            )
        gw.spawn(drive(strap, count=15, period_s=0.005))
        wait_until(lambda: len(strap.emitted) == 75, what="readings taken")
        wait_until(gw.settled, timeout=30, what="the refused batches acknowledged")
        with engine.begin() as conn:
            conn.execute(text("DROP TRIGGER no_hr"))

        # 3. The broker goes away while the strap measures past the outbox's budget.
        broker.stop()
        wait_until(lambda: not gateway.uplink.connected.is_set(), what="the outage noticed")
        gw.spawn(drive(strap, count=200, period_s=0.002))
        wait_until(lambda: len(strap.emitted) == 275, timeout=30, what="readings taken")
        wait_until(lambda: gateway.outbox.stats().thinned > 0, what="thinning")
        broker.start()
        wait_until(gw.settled, timeout=60, what="everything kept acknowledged")

        counters = gateway.outbox.counters()
        wait_until(lambda: observer.repeats() == counters.resent, what="re-sends observed")
        with Session(engine) as s:
            stored = s.scalar(select(func.count(Reading.id))) or 0
        wait_until(
            lambda: _recorded_counters(engine) == asdict(counters),
            timeout=20,
            what="the counters in the cloud's record of the status",
        )
        assert _metrics(web_port) == {k: float(v) for k, v in asdict(counters).items()}
    finally:
        gw.stop()
        observer.close()
        if engine is not None:
            engine.dispose()

    assert counters.resent > 0
    assert counters.thinned > 0
    assert counters.dead_lettered == 15  # the batches of step 2 held heart rates only
    assert counters.published == observer.unique()
    assert counters.acknowledged == counters.published
    assert counters.accepted == counters.published + counters.thinned
    assert counters.dead_lettered == len(observer.readings) - stored
    assert counters.resent == observer.repeats()
    reopened = Outbox(settings.outbox_path)
    try:
        assert reopened.counters() == counters
    finally:
        reopened.close()
    assert counters != Counters()


def _recorded_counters(engine: Any) -> dict[str, int] | None:
    with Session(engine) as s:
        record = s.get(GatewayRecord, GATEWAY)
        return None if record is None else (record.status or {}).get("counters")
