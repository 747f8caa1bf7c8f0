"""Mosquitto's queue for a slow subscriber: the default drops QoS 1 messages, ours does not.

An ingest worker whose database is down acknowledges nothing (docs/architecture.md, end-to-end
acknowledgement), so everything published meanwhile queues in the broker for its session.
At Mosquitto's defaults (``max_queued_messages 1000``) the broker silently drops what is
beyond the queue and counts it in ``$SYS/broker/publish/messages/dropped``; with the shipped
deploy/mosquitto/vitalgate.conf (queue bounded by bytes, not by a small count) it keeps them
all, and the subscriber gets every one once it catches up.
"""

from __future__ import annotations

import threading
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.fixtures.mosquitto import Mosquitto
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.broker

MESSAGES = 3_000
PAYLOAD = bytes(4_000)
"""About a 20-reading batch: 12 MB in all, far under the shipped 256 MB byte bound."""
WINDOW = 20


class SlowSubscriber:
    """A QoS 1 subscriber (Receive Maximum 20) that acknowledges nothing until released."""

    def __init__(self, broker: Mosquitto) -> None:
        self.received: list[paho.MQTTMessage] = []
        self.released = threading.Event()
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = broker.client("slow")
        self.client.manual_ack_set(True)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.ReceiveMaximum = WINDOW
        props.SessionExpiryInterval = 600
        self.client.connect(broker.host, broker.port, clean_start=True, properties=props)
        self.client.loop_start()
        self.client.subscribe("soak/#", qos=1)
        assert self._subscribed.wait(10)

    def _on_message(self, client: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        with self._lock:
            self.received.append(msg)
        if self.released.is_set():
            client.ack(msg.mid, msg.qos)

    def release(self) -> None:
        """Catch up: acknowledge what is held; the broker then sends the rest."""
        self.released.set()
        with self._lock:
            held = list(self.received)
        for msg in held:
            self.client.ack(msg.mid, msg.qos)

    def distinct(self) -> int:
        with self._lock:
            return len({bytes(m.topic, "utf-8") for m in self.received})

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def soak(broker: Mosquitto) -> tuple[int, int]:
    """Publish ``MESSAGES`` at QoS 1 past a stalled subscriber; (dropped, delivered)."""
    broker.start()
    sub = SlowSubscriber(broker)
    pub = broker.client(role="publisher")
    pub.connect(broker.host, broker.port)
    pub.loop_start()
    try:
        infos = [pub.publish(f"soak/{i}", PAYLOAD, qos=1) for i in range(MESSAGES)]
        for info in infos:
            info.wait_for_publish(30)
        broker.sys_tick()  # the counter now includes every publish above
        dropped = broker.sys_counter("publish/messages/dropped")
        sub.release()
        expected = MESSAGES - dropped
        wait_until(
            lambda: sub.distinct() >= expected, timeout=60, what="the subscriber to catch up"
        )
        return dropped, sub.distinct()
    finally:
        pub.disconnect()
        pub.loop_stop()
        sub.close()
        broker.kill()


def test_mosquitto_defaults_drop_qos1_messages_for_a_slow_subscriber(tmp_path: Path) -> None:
    dropped, delivered = soak(Mosquitto(tmp_path / "defaults", shipped=False))
    assert dropped > 0
    assert delivered == MESSAGES - dropped
    # Its queue of 1,000 plus the 20 in flight survive; the rest is gone.
    assert delivered == 1_000 + WINDOW


def test_shipped_configuration_keeps_every_message_for_a_slow_subscriber(tmp_path: Path) -> None:
    dropped, delivered = soak(Mosquitto(tmp_path / "shipped"))
    assert dropped == 0
    assert delivered == MESSAGES
