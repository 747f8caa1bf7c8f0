"""The ingest worker: MQTT in, validated rows committed, then acknowledged twice.

It subscribes to every gateway's uplink through an MQTT 5 shared subscription, so several
workers split the stream. Each batch of messages is validated against the wire models
(refusals go to the dead-letter table with the reason), upserted on reading id, evaluated
for alerts, and committed in one transaction. Only then does the worker PUBACK the messages
(paho's manual acknowledgement) and publish the end-to-end acknowledgement on each
gateway's ``…/acks``. While the database is down nothing is acknowledged, and the worker
holds at most ``queue_max`` unacknowledged messages: it announces that as its MQTT 5 Receive
Maximum, so the broker stops sending and keeps the rest (backpressure), and paho's network
thread does not block (it keeps answering keep-alives through an outage of hours). Mosquitto
2.0 overshoots the Receive Maximum while it drains a backlog after acknowledgements (measured:
400 in flight for a maximum of 20), so the queue is bounded as well: when it is full paho stops
reading and TCP flow control holds the rest. At most ``queue_max + batch_max`` messages are
ever held.

A worker's session outlives a restart by ``session_expiry_s`` only (not the gateways' week):
Mosquitto keeps routing a share of a ``$share`` group's messages to a member whose session
is offline, so a dead worker with a week-long session would hold half the stream for a week.
When its short session expires the broker drops what it held for it, and the gateways'
end-to-end acknowledgement republishes those batches to the members still alive.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import paho.mqtt.client as paho
import structlog
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from cloud import metrics
from cloud.alerts import service as alerts
from cloud.alerts.rulebook import RuleBook
from cloud.ingest import edge as edge_ingest
from cloud.ingest.triage import triage
from cloud.store.models import DeadLetter, GatewayRecord
from cloud.store.quarantine import quarantine
from cloud.store.readings import reading_row, upsert_readings
from cloud.store.rollups import add_to_rollups
from gateway import wire
from gateway.uplink.settings import MqttSettings

log = structlog.get_logger(__name__)

SUBSCRIBED_LEAVES: Final = ("readings", "status", "events", "rollups")
DB_RETRY_FIRST_S: Final = 0.5
DB_RETRY_MAX_S: Final = 30.0
MAX_PAYLOAD_BYTES: Final = 1_000_000
SESSION_EXPIRY_S: Final = 60
"""Long enough for a restart to resume the session (the broker then redelivers what was in
flight), short enough that a worker gone for good stops taking a share of the stream."""
QUEUE_MAX: Final = 1_000
"""Unacknowledged messages one worker holds at most (its MQTT 5 Receive Maximum)."""


@dataclass
class _Pending:
    """What one batch of MQTT messages becomes before it is committed."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    statuses: dict[str, wire.Status] = field(default_factory=dict)
    acks: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    oldest_sent_at: datetime | None = None
    edge: edge_ingest.EdgeBatch = field(default_factory=edge_ingest.EdgeBatch)


class IngestWorker:
    def __init__(
        self,
        mqtt: MqttSettings,
        sessions: sessionmaker[Session],
        *,
        group: str,
        client_id: str,
        batch_max: int = 500,
        flush_s: float = 0.05,
        queue_max: int = QUEUE_MAX,
        session_expiry_s: int = SESSION_EXPIRY_S,
        channel_labels: Sequence[str] = (),
        on_alerts: Callable[[], None] | None = None,
        rulebook: RuleBook | None = None,
    ) -> None:
        self.mqtt = mqtt
        self.sessions = sessions
        self.group = group
        self.batch_max = batch_max
        self.flush_s = flush_s
        self.channel_labels = list(channel_labels)
        """The notifier's channel labels: one queued delivery per channel for each new alert."""
        self.on_alerts = on_alerts
        self.rulebook = rulebook or RuleBook()
        self.queue_max = min(queue_max, 65_535)  # the protocol's limit for Receive Maximum
        self.session_expiry_s = session_expiry_s
        self.connected = threading.Event()
        self.pending_high_water = 0
        """The most messages held unacknowledged at once (≤ ``queue_max + batch_max``)."""
        self._held = 0
        self._held_lock = threading.Lock()
        self._queue: queue.Queue[paho.MQTTMessage | None] = queue.Queue(self.queue_max)
        """Received messages for the writer; ``None`` wakes it to stop."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
        )
        self._client.manual_ack_set(True)
        if mqtt.username:
            self._client.username_pw_set(
                mqtt.username, mqtt.password.get_secret_value() if mqtt.password else None
            )
        self._client.reconnect_delay_set(mqtt.reconnect_min_s, mqtt.reconnect_max_s)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.session_expiry_s
        props.ReceiveMaximum = self.queue_max
        self._client.connect_async(
            self.mqtt.host,
            self.mqtt.port,
            keepalive=self.mqtt.keepalive_s,
            clean_start=False,
            properties=props,
        )
        self._client.loop_start()
        self._thread.start()

    @property
    def pending(self) -> int:
        """Messages received and not yet acknowledged (queued, or in the batch being stored)."""
        return self._held

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(queue.Full):  # a full queue means the writer is not waiting
            self._queue.put_nowait(None)  # wake the writer now, not at its next poll
        self._thread.join(timeout=10)
        self._client.disconnect()
        self._client.loop_stop()

    # ------------------------------------------------------------------ paho thread
    def _on_connect(
        self, client: paho.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Properties | None
    ) -> None:
        if rc.is_failure:
            log.error("ingest.connect_refused", reason=str(rc))
            return
        filters = [
            (f"$share/{self.group}/{wire.uplink_filter(leaf, self.mqtt.topic_root)}", 1)
            for leaf in SUBSCRIBED_LEAVES
        ]
        client.subscribe(filters)
        self.connected.set()
        metrics.BROKER_CONNECTED.set(1)
        log.info("ingest.connected", host=self.mqtt.host, port=self.mqtt.port)

    def _on_disconnect(
        self, _c: paho.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Properties | None
    ) -> None:
        self.connected.clear()
        metrics.BROKER_CONNECTED.set(0)
        log.warning("ingest.disconnected", reason=str(rc))

    def _on_message(self, _c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        # While nothing is acknowledged the broker keeps to the Receive Maximum, so this put
        # does not block through an outage; while draining a backlog it may, and then paho
        # stops reading the socket for a moment (see the module's docstring).
        while not self._stop.is_set():
            try:
                self._queue.put(msg, timeout=1.0)
            except queue.Full:
                continue
            with self._held_lock:
                self._held += 1
                self.pending_high_water = max(self.pending_high_water, self._held)
            metrics.INGEST_PENDING.set(self._held)
            return

    # ------------------------------------------------------------------ writer thread
    def _run(self) -> None:
        while not self._stop.is_set():
            batch = self._collect()
            if batch:
                self._commit_with_retry(batch)

    def _collect(self) -> list[paho.MQTTMessage]:
        try:
            first = self._queue.get(timeout=0.5)
        except queue.Empty:
            return []
        if first is None:
            return []
        batch = [first]
        deadline = time.monotonic() + self.flush_s
        while len(batch) < self.batch_max:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                message = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            if message is None:
                break
            batch.append(message)
        return batch

    def _commit_with_retry(self, batch: list[paho.MQTTMessage]) -> None:
        delay = DB_RETRY_FIRST_S
        while not self._stop.is_set():
            try:
                self.process(batch, now=datetime.now(UTC))
                return
            except SQLAlchemyError as exc:
                metrics.INGEST_DB_ERRORS.inc()
                log.error(
                    "ingest.db_unavailable",
                    error=type(exc).__name__,
                    retry_in_s=delay,
                    advice="check the database; nothing is acknowledged until it is back",
                )
            except Exception:  # a bug must not kill the writer thread silently
                metrics.INGEST_DB_ERRORS.inc()
                log.exception(
                    "ingest.batch_failed",
                    retry_in_s=delay,
                    advice="a fault in the cloud: nothing of this batch is acknowledged; "
                    "report the log",
                )
            self._stop.wait(delay)
            delay = min(DB_RETRY_MAX_S, delay * 2)

    def process(self, batch: list[paho.MQTTMessage], *, now: datetime) -> None:
        """Validate, store, evaluate and commit one batch; then acknowledge it."""
        pending = _Pending()
        for msg in batch:
            self._parse(msg, pending, now=now)
        new_alerts = False
        with self.sessions.begin() as session:
            session.add_all(pending.dead)
            sorted_rows = triage(session, pending.rows, now=now)
            quarantined = quarantine(session, sorted_rows.quarantined)
            inserted = upsert_readings(session, sorted_rows.accepted)
            fresh = {row["id"]: row for row in sorted_rows.accepted if row["id"] in inserted}
            add_to_rollups(session, fresh.values())
            edge_changes = edge_ingest.commit(
                session, pending.edge, pending.statuses, now=now, channels=self.channel_labels
            )
            for gateway_id, status in pending.statuses.items():
                _record_status(session, gateway_id, status, now=now)
            touched: dict[tuple[str, str], datetime] = {}
            for row in fresh.values():
                key = (row["patient_id"], row["metric"])
                touched[key] = min(row["ts"], touched.get(key, row["ts"]))
            changes = alerts.evaluate(
                session, touched, now=now, channels=self.channel_labels, rulebook=self.rulebook
            )
            new_alerts = any(c.change == "opened" for c in [*changes, *edge_changes])
        self._acknowledge(batch)
        for gateway_id, batch_ids in pending.acks.items():
            ack = wire.Ack(batch_ids=tuple(batch_ids))
            topic = wire.Topics(gateway_id, self.mqtt.topic_root).acks
            self._client.publish(topic, wire.encode(ack), qos=1)
        self._count(batch, pending, inserted, quarantined, now=now)
        if new_alerts and self.on_alerts is not None:
            self.on_alerts()

    def _acknowledge(self, batch: list[paho.MQTTMessage]) -> None:
        """PUBACK a committed batch: the broker may then send as many messages again."""
        with self._held_lock:
            self._held -= len(batch)
        metrics.INGEST_PENDING.set(self._held)
        for msg in batch:
            self._client.ack(msg.mid, msg.qos)

    def _parse(self, msg: paho.MQTTMessage, pending: _Pending, *, now: datetime) -> None:
        payload = bytes(msg.payload)
        try:
            if len(payload) > MAX_PAYLOAD_BYTES:
                raise wire.WireError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
            gateway_id, leaf = wire.split_topic(msg.topic, self.mqtt.topic_root)
            message = _decode(payload, leaf)
            if (
                isinstance(
                    message, wire.ReadingBatch | wire.Status | wire.EventBatch | wire.RollupBatch
                )
                and message.gateway_id != gateway_id
            ):
                raise wire.WireError(
                    f"gateway_id {message.gateway_id!r} does not match topic gateway {gateway_id!r}"
                )
        except wire.WireError as exc:
            pending.dead.append(
                DeadLetter(received_at=now, topic=msg.topic[:512], reason=str(exc), payload=payload)
            )
            log.warning("ingest.dead_letter", topic=msg.topic[:128], reason=str(exc)[:200])
            return
        if isinstance(message, wire.ReadingBatch):
            pending.rows.extend(
                reading_row(r, gateway_id=gateway_id, received_at=now) for r in message.readings
            )
            pending.acks[gateway_id].append(message.batch_id)
            if pending.oldest_sent_at is None or message.sent_at < pending.oldest_sent_at:
                pending.oldest_sent_at = message.sent_at
        elif isinstance(message, wire.Status):
            pending.statuses[gateway_id] = message
        elif isinstance(message, wire.EventBatch | wire.RollupBatch):
            pending.edge.add(gateway_id, message, now=now)
            pending.acks[gateway_id].append(message.batch_id)

    def _count(
        self,
        batch: list[paho.MQTTMessage],
        pending: _Pending,
        inserted: set[str],
        quarantined: int,
        *,
        now: datetime,
    ) -> None:
        metrics.INGEST_READINGS.inc(len(inserted))
        metrics.INGEST_QUARANTINED.inc(quarantined)
        metrics.INGEST_DUPLICATES.inc(max(0, len(pending.rows) - len(inserted) - quarantined))
        metrics.DEAD_LETTERS.inc(len(pending.dead))
        metrics.INGEST_BATCH_SIZE.observe(len(batch))
        for msg in batch:
            metrics.INGEST_MESSAGES.labels(topic=msg.topic.rsplit("/", 1)[-1][:32]).inc()
        if pending.oldest_sent_at is not None:
            metrics.INGEST_LAG.observe(max(0.0, (now - pending.oldest_sent_at).total_seconds()))


def _decode(payload: bytes, leaf: str) -> wire.WireMessage:
    """``wire.decode``, with pydantic's JSON parser on readings (several times faster than
    ``json.loads`` then validation); a refused payload is decoded again for its reason."""
    if leaf == "readings":
        try:
            return wire.ReadingBatch.model_validate_json(payload)
        except ValueError:  # pydantic's ValidationError included
            pass
    return wire.decode(payload, expect=wire.TOPIC_SCHEMAS[leaf])


def _record_status(
    session: Session, gateway_id: str, status: wire.Status, *, now: datetime
) -> None:
    record = session.get(GatewayRecord, gateway_id)
    body = status.model_dump(mode="json", by_alias=True, exclude_none=True)
    if record is None:
        session.add(
            GatewayRecord(id=gateway_id, state=status.state.value, last_seen=now, status=body)
        )
    else:
        record.state, record.last_seen, record.status = status.state.value, now, body
