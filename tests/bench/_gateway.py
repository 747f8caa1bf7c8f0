"""Shared harness of the gateway benchmarks: a private Mosquitto, an instant "cloud" that
acknowledges every batch, and a gateway fed straight at its BLE notification callback."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho

from firmware_sim.encoders import encode_heart_rate
from firmware_sim.radio import SimLink, SimRadio
from gateway import wire
from gateway.app import Gateway
from gateway.ble.measurement import Measurement
from gateway.ble.runtime import DeviceRuntime
from gateway.ble.state import DeviceState
from gateway.ble.uuids import normalize_uuid
from gateway.settings import GatewaySettings
from gateway.uplink.settings import MqttSettings
from tests.fixtures.mosquitto import Mosquitto

HR_CHAR = normalize_uuid(0x2A37)


def quiet_logs() -> None:
    """Gateway logs to stderr, warnings only: stdout carries the figures."""
    from gateway.logs import configure_logging

    configure_logging(level="WARNING")


def pin_to_one_core() -> int | None:
    """Run this process on one CPU; return which. Call it after starting the broker, which
    is a separate process and must not inherit the pinning."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def notifications(count: int, *, seed: int = 1) -> list[bytes]:
    """``count`` Heart Rate Measurement values as a strap sends them (with RR intervals).

    No two in a row are the same bytes: the gateway drops identical values arriving within
    ``gateway.ble.intake.DUPLICATE_WINDOW`` as repeats, and this harness feeds them faster
    than a strap's once a second.
    """
    import random

    rng = random.Random(seed)
    out: list[bytes] = []
    while len(out) < count:
        rr = (0.8, round(rng.uniform(0.6, 1.0), 3))
        raw = encode_heart_rate(rng.randint(55, 95), sensor_contact=True, rr_intervals=rr)
        if not out or raw != out[-1]:
            out.append(raw)
    return out


@contextlib.contextmanager
def broker() -> Iterator[Mosquitto]:
    with tempfile.TemporaryDirectory(prefix="vg-bench-") as tmp:
        mosq = Mosquitto(Path(tmp) / "mosquitto")
        mosq.start()
        try:
            yield mosq
        finally:
            mosq.kill()


class InstantCloud:
    """Acknowledges every readings batch the moment it arrives (the cloud at zero cost)."""

    def __init__(self, mosq: Mosquitto) -> None:
        self.client = mosq.client(role="bench-acker")
        ready = threading.Event()
        self.client.on_connect = lambda c, *_: c.subscribe(wire.uplink_filter("readings"), qos=1)
        self.client.on_subscribe = lambda *_: ready.set()
        self.client.on_message = self._on_message
        self.client.connect(mosq.host, mosq.port)
        self.client.loop_start()
        ready.wait(10)

    def _on_message(self, client: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        gateway_id, _ = wire.split_topic(msg.topic)
        batch_id = json.loads(msg.payload)["batch_id"]
        ack = wire.Ack(batch_ids=(batch_id,))
        client.publish(wire.Topics(gateway_id).acks, wire.encode(ack), qos=1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Harness:
    """A gateway on its own loop in this thread; ``notify`` is the strap's callback path."""

    def __init__(self, mosq: Mosquitto, data_dir: Path) -> None:
        settings = GatewaySettings(
            gateway_id="gw-bench",
            data_dir=data_dir,
            link="sim",
            mqtt=MqttSettings(host=mosq.host, port=mosq.port),
        )
        self.gateway = Gateway(settings, SimLink(SimRadio()))
        self.on_measurement: Callable[[Measurement], None] | None = None
        device = DeviceState(
            device_id="hrm-bench",
            address="C0:FF:EE:BE:00:01",
            kind="hr_strap",
            patients=[wire.PatientAssignment(patient_id="p-bench")],
        )
        store = self.gateway.devices.store
        self.session = DeviceRuntime(
            self.gateway.link,
            store.put(device),
            store=store,
            sink=self._sink,
            events=self.gateway._event,
            clock_fn=self._clock,
        )
        self._t0 = datetime.now(UTC)
        self._n = 0
        self.added = 0
        add = self.gateway.outbox.add

        def counting_add(items: Any, **kw: Any) -> int:
            n = add(items, **kw)
            self.added += n
            return n

        self.gateway.outbox.add = counting_add  # type: ignore[method-assign]

    def _clock(self) -> datetime:
        # Distinct, increasing time stamps, so a reading can be found again by its ts.
        self._n += 1
        return self._t0 + timedelta(microseconds=self._n)

    def _sink(self, m: Measurement) -> None:
        if self.on_measurement is not None:
            self.on_measurement(m)
        self.gateway._enqueue(m)

    def notify(self, data: bytes) -> None:
        self.session._on_notify(HR_CHAR, data)

    def all_published(self, expected: int) -> bool:
        return self.added >= expected and self.gateway.outbox.stats().unpublished == 0

    async def wait_published(self, expected: int, *, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not await asyncio.to_thread(self.all_published, expected):
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {self.added} of {expected} readings stored in time")
            await asyncio.sleep(0.01)

    async def wait_connected(self) -> None:
        while not self.gateway.uplink.connected.is_set():
            await asyncio.sleep(0.01)
