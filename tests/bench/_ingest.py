"""Shared parts of the ingest benchmarks: synthetic batches, a queue preloaded in Mosquitto,
a row-at-a-time baseline worker, and a clock that stops at the last end-to-end ack.

Each run preloads the broker: the worker's persistent session subscribes once, goes away,
every batch is published and acknowledged by the broker, then the worker comes back and
the clock runs from its start until the ack of the last batch arrives. So the figure is
the worker's throughput (validate, triage, upsert, rollups, alerts, commit, PUBACK, ack),
not the publisher's.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cloud.alerts import service as alerts
from cloud.ingest.triage import triage
from cloud.ingest.worker import IngestWorker
from cloud.store.models import Reading
from cloud.store.quarantine import quarantine
from cloud.store.readings import reading_row, upsert_readings
from cloud.store.rollups import add_to_rollups
from gateway import wire
from gateway.uplink.settings import MqttSettings
from tests.fixtures.bindings import bind
from tests.fixtures.mosquitto import Mosquitto
from tests.fixtures.net import free_port
from tests.fixtures.tls import make_pki, tls_listener
from tests.fixtures.waiting import wait_until

GATEWAYS = 20
PER_MESSAGE = 200
METRICS = (("heart_rate", "/min", 72.0), ("spo2", "%", 97.0), ("systolic_bp", "mm[Hg]", 125.0))


@dataclass(frozen=True)
class Load:
    messages: list[tuple[str, bytes, str]]
    """(topic, payload, batch_id)"""
    readings: int

    @property
    def gateways(self) -> list[str]:
        return sorted({wire.split_topic(topic)[0] for topic, _, _ in self.messages})


def register(sessions: sessionmaker[Session], load: Load) -> None:
    """Provision the load's gateways and pair each one's device to its patient, as an
    operator would: ingest stores nothing a registered gateway and a pairing do not vouch
    for (``cloud.ingest.authorise``)."""
    for gw in load.gateways:
        bind(sessions, organisation="bench", gateway_id=gw, pairs=[(f"p-{gw}", f"d-{gw}")])


def make_load(readings: int, *, tag: str, per_message: int = PER_MESSAGE) -> Load:
    """``readings`` readings from ``GATEWAYS`` gateways, one patient each, in batches."""
    start = datetime.now(UTC) - timedelta(hours=6)
    messages: list[tuple[str, bytes, str]] = []
    for m in range(readings // per_message):
        gw = f"gw-{tag}-{m % GATEWAYS}"
        batch_id = f"{tag}-b{m}"
        rows = []
        for k in range(per_message):
            i = m * per_message + k
            metric, unit, base = METRICS[i % len(METRICS)]
            rows.append(
                {
                    "id": f"{tag}-r{i}",
                    "patient_id": f"p-{gw}",
                    "device_id": f"d-{gw}",
                    "metric": metric,
                    "unit": unit,
                    "value": base + (i % 7),
                    "ts": (start + timedelta(seconds=i // GATEWAYS)).isoformat(),
                }
            )
        body = {
            "schema": "vg.readings/1",
            "gateway_id": gw,
            "batch_id": batch_id,
            "sent_at": datetime.now(UTC).isoformat(),
            "readings": rows,
        }
        messages.append((wire.Topics(gw).readings, json.dumps(body).encode(), batch_id))
    return Load(messages, len(messages) * per_message)


class RowAtATimeWorker(IngestWorker):
    """The baseline: the same steps as ``IngestWorker.process``, one reading per transaction."""

    def process(self, batch: list[paho.MQTTMessage], *, now: datetime) -> None:
        for msg in batch:
            parsed = wire.decode(bytes(msg.payload), expect="vg.readings/1")
            assert isinstance(parsed, wire.ReadingBatch)
            for r in parsed.readings:
                row = reading_row(r, gateway_id=parsed.gateway_id, received_at=now)
                with self.sessions.begin() as session:
                    kept = triage(session, [row], now=now)
                    quarantine(session, kept.quarantined)
                    inserted = upsert_readings(session, kept.accepted)
                    fresh = [x for x in kept.accepted if x["id"] in inserted]
                    add_to_rollups(session, fresh)
                    touched = {(x["patient_id"], x["metric"]): x["ts"] for x in fresh}
                    alerts.evaluate(session, touched, now=now, channels=[])
            self._acknowledge([msg])
            topic = wire.Topics(parsed.gateway_id).acks
            self._client.publish(topic, wire.encode(wire.Ack(batch_ids=(parsed.batch_id,))), qos=1)


class AckCounter:
    """Listens on every gateway's ``…/acks``; ``done`` is set when all ``expected`` are in."""

    def __init__(self, broker: Mosquitto, expected: set[str]) -> None:
        self.expected = set(expected)
        self.done = threading.Event()
        self.seen: set[str] = set()
        self.repeats = 0
        self._lock = threading.Lock()
        self.client = mqtt_client(broker)
        self.client.on_message = self._on_message
        self.client.subscribe("vg/v1/+/acks", qos=1)
        self.client.loop_start()

    def _on_message(self, _c: object, _u: object, msg: paho.MQTTMessage) -> None:
        ack = wire.decode(msg.payload, expect="vg.acks/1")
        assert isinstance(ack, wire.Ack)
        with self._lock:
            for b in ack.batch_ids:
                if b in self.seen:
                    self.repeats += 1
                self.seen.add(b)
            if self.expected <= self.seen:
                self.done.set()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def publish_all(broker: Mosquitto, load: Load) -> None:
    client = mqtt_client(broker)
    client.loop_start()
    infos = [client.publish(topic, payload, qos=1) for topic, payload, _ in load.messages]
    for info in infos:
        info.wait_for_publish(30)
    client.disconnect()
    client.loop_stop()


def settings_for(broker: Mosquitto) -> MqttSettings:
    """The ingest worker's MQTT settings. TLS hook: when the broker takes TLS (client
    certificates), this and ``mqtt_client`` are the two places the bench sets it up."""
    return broker.settings()


def mqtt_client(broker: Mosquitto) -> paho.Client:
    """Every MQTT client the bench itself uses (publisher, ack listener), connected.

    Made by the project's one client factory (``Mosquitto.client``), so a broker that requires
    TLS and client certificates gets them here.
    """
    client = broker.client(role="bench")
    client.connect(broker.host, broker.port)
    return client


class TlsMosquitto(Mosquitto):
    """A broker whose clients connect over mutual TLS (a client certificate issued by a
    throwaway CA, as a provisioned deployment has), beside its plain loopback listener:
    ``plain()`` is the same broker seen without TLS, for a baseline in the same run."""

    def __init__(self, workdir: Path) -> None:
        self.pki = make_pki(workdir / "pki")
        self.cert, self.key = self.pki.client("vitalgate-cloud")
        tls_port = free_port()
        super().__init__(workdir, extra_conf=tls_listener(self.pki, tls_port))
        self.plain_port, self.port = self.port, tls_port

    def settings(self) -> MqttSettings:
        return MqttSettings(
            host=self.host, port=self.port, tls=True, ca_file=self.pki.ca,
            cert_file=self.cert, key_file=self.key,
        )  # fmt: skip

    def plain(self) -> Mosquitto:
        view = copy.copy(self)
        view.port = self.plain_port
        view.settings = lambda: MqttSettings(host=self.host, port=self.plain_port)  # type: ignore[method-assign]
        return view


@contextmanager
def worker(
    broker: Mosquitto,
    sessions: sessionmaker[Session],
    *,
    client_id: str,
    cls: type[IngestWorker] = IngestWorker,
    group: str = "bench",
    **options: Any,
) -> Iterator[IngestWorker]:
    w = cls(
        settings_for(broker), sessions, group=group, client_id=client_id, batch_max=500, **options
    )
    w.start()
    wait_until(w.connected.is_set, timeout=30, what="the ingest worker to connect")
    try:
        yield w
    finally:
        w.stop()


def subscribe_session(
    broker: Mosquitto,
    sessions: sessionmaker[Session],
    client_id: str,
    cls: type[IngestWorker] = IngestWorker,
) -> None:
    """Create the worker's persistent session (and shared subscription), then leave.

    Each run has its own group: Mosquitto keeps sharing a group's messages with members
    whose persistent session is offline, so an earlier run's worker would take its share.
    """
    with worker(broker, sessions, client_id=client_id, cls=cls, group=client_id):
        time.sleep(0.5)  # let the SUBACK land before the session goes offline


def stored(sessions: sessionmaker[Session], prefix: str) -> int:
    with sessions() as s:
        return int(
            s.scalar(
                select(func.count()).select_from(Reading).where(Reading.id.like(f"{prefix}-%"))
            )
            or 0
        )


@dataclass(frozen=True)
class Drain:
    rate: float
    """Readings per second of wall time, from the worker's start to the last ack."""
    stored: int
    cpu_rate: float
    """Readings per second of this process's CPU time over the same span (the worker's
    threads and the ack listener): steadier than wall time on a shared machine."""


def drain(
    broker: Mosquitto,
    sessions: sessionmaker[Session],
    load: Load,
    *,
    tag: str,
    cls: type[IngestWorker] = IngestWorker,
    timeout: float = 600,
    **options: Any,
) -> Drain:
    """One worker drains a preloaded queue. ``options`` go to the worker
    (``binding_checks=False``: the ``ingest_secure`` baseline)."""
    client_id = f"ingest-{tag}"
    register(sessions, load)
    subscribe_session(broker, sessions, client_id, cls)
    publish_all(broker, load)
    acks = AckCounter(broker, {b for _, _, b in load.messages})
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        with worker(broker, sessions, client_id=client_id, cls=cls, group=client_id, **options):
            if not acks.done.wait(timeout):
                raise AssertionError(f"only {len(acks.seen)} of {len(load.messages)} batches acked")
            elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        acks.close()
    return Drain(load.readings / elapsed, stored(sessions, tag), load.readings / cpu)


def drain_rate(
    broker: Mosquitto,
    sessions: sessionmaker[Session],
    load: Load,
    *,
    tag: str,
    cls: type[IngestWorker] = IngestWorker,
    timeout: float = 600,
    **options: Any,
) -> tuple[float, int]:
    """Readings per second for one worker to drain a preloaded queue; and readings stored."""
    done = drain(broker, sessions, load, tag=tag, cls=cls, timeout=timeout, **options)
    return done.rate, done.stored


def workdir(name: str) -> Path:
    import tempfile

    return Path(tempfile.mkdtemp(prefix=f"vitalgate-bench-{name}-"))
