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

A worker given no name (``VG_INGEST_CLIENT_ID``) takes one from a session slot
(``cloud.ingest.session_slot``): ``<group>-<n>``, unique among live workers by a lease, the
same after a restart. So the group's subscription outlives a restart of every worker: what
gateways publish meanwhile is queued for the stopped session and arrives when its worker is
back, instead of being discarded and re-sent a whole ack timeout later.

No message can stop ingest: anything that goes wrong decoding or judging one message makes
that message a dead letter with the reason, and the rest of the batch goes on. Only a
database that cannot be reached holds a batch back (retried with backoff); a batch the
database refuses for its content is stored message by message, and a message it still
refuses becomes a dead letter (``cloud.ingest.faults``). ``stalled()`` tells ``/readyz``
when the worker has finished nothing for ``STALL_AFTER_S`` with messages waiting.
"""

from __future__ import annotations

import contextlib
import gc
import queue
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import paho.mqtt.client as paho
import structlog
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy.orm import Session, sessionmaker

from cloud import metrics
from cloud.alerts.rulebook import RuleBook
from cloud.downlink import DownlinkSigner
from cloud.ingest import edge_batches, faults
from cloud.ingest.batch import Outcome, Pending, parse, store
from cloud.ingest.session_slot import RENEW_EVERY_S, SessionSlot
from cloud.store.models import DeadLetter
from cloud.store.readings import Upserted
from gateway import wire
from gateway.backoff import Backoff
from gateway.uplink.client import make_client
from gateway.uplink.settings import MqttSettings

log = structlog.get_logger(__name__)

SUBSCRIBED_LEAVES: Final = ("readings", "status", "events", "rollups")
DB_RETRY_FIRST_S: Final = 0.5
DB_RETRY_FACTOR: Final = 2.0
DB_RETRY_MAX_S: Final = 30.0
DB_RETRY: Final = Backoff(DB_RETRY_FIRST_S, DB_RETRY_FACTOR, DB_RETRY_MAX_S)
"""Waits between commit attempts while the database is away: 0.5 s, 1 s, 2 s … 30 s."""
SESSION_EXPIRY_S: Final = 60
"""Long enough for a restart to resume the session (the broker then redelivers what was in
flight), short enough that a worker gone for good stops taking a share of the stream."""
QUEUE_MAX: Final = 1_000
"""Unacknowledged messages one worker holds at most (its MQTT 5 Receive Maximum)."""
STEADY_WINDOW_S: Final = 0.5
"""Under a steady stream, how long a batch waits for more messages (instead of ``flush_s``).
Each commit has a fixed cost (pool check-out, the batch's bindings, the rule book's
versions, the touched series' history for the rules, open alerts); at a steady pace of
small messages, a 50 ms window commits nearly every message alone and that fixed cost
dominates (``ingest_paced``). Half a second gathers several (at 3,000 readings/s in
messages of 200, about 60 commits per 100,000 readings instead of 470), adding at most that
much to the time to an alert, and only while the stream is steady: remote monitoring's
alerts are judged over minutes, and a gateway waits 30 s for its acknowledgement."""
STEADY_AFTER_S: Final = 1.0
"""The stream counts as steady while the previous batch finished less than this ago; a
message arriving after a pause is committed after ``flush_s`` as before."""
GC_YOUNG_THRESHOLD: Final = 10_000
"""Net allocations between collections of the collector's youngest generation once a
worker runs (Python's default: 700). A batch of 200-reading messages keeps thousands of
objects alive while it is stored (wire models, rows, arrays, statements): at the default,
several collections a batch walked them all and promoted them to be walked again, about a
sixth of the worker's CPU time at a steady pace (``ingest_paced``, measured). Objects are
still freed by reference counting the moment they are unused; only cycles wait longer."""
STALL_AFTER_S: Final = 30.0
"""A worker with messages waiting that has finished no batch for this long is stalled:
``/readyz`` says not ready (``VG_INGEST_STALL_S``)."""


class IngestWorker:
    def __init__(
        self,
        mqtt: MqttSettings,
        sessions: sessionmaker[Session],
        *,
        group: str,
        client_id: str | None = None,
        batch_max: int = 500,
        flush_s: float = 0.05,
        steady_window_s: float = STEADY_WINDOW_S,
        queue_max: int = QUEUE_MAX,
        session_expiry_s: int = SESSION_EXPIRY_S,
        channel_labels: Sequence[str] = (),
        on_alerts: Callable[[], None] | None = None,
        rulebook: RuleBook | None = None,
        signer: DownlinkSigner | None = None,
        stall_after_s: float = STALL_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
        binding_checks: bool = True,
        slot: SessionSlot | None = None,
    ) -> None:
        self.mqtt = mqtt
        self.signer = signer or DownlinkSigner(None)
        """Signs the acks: a forged ack would make a gateway delete readings never stored.
        One signature per gateway per batch (about 0.1–0.25 ms; see README, signed downlink)."""
        self.sessions = sessions
        self.group = group
        self.batch_max = batch_max
        self.flush_s = flush_s
        self.steady_window_s = max(flush_s, steady_window_s)
        self._last_batch_done = -STEADY_AFTER_S  # monotonic; long ago: not steady yet
        self.channel_labels = list(channel_labels)
        """The notifier's channel labels: one queued delivery per channel for each new alert."""
        self.on_alerts = on_alerts
        self.rulebook = rulebook or RuleBook()
        self.queue_max = min(queue_max, 65_535)  # the protocol's limit for Receive Maximum
        # Only a named worker (or one with a session slot) can resume its session; an unnamed
        # one's would linger as an offline member of the $share group, taking a share of the
        # stream until it expired.
        self.slot = None if client_id else slot
        self.session_expiry_s = session_expiry_s if client_id or self.slot else 0
        self.stall_after_s = stall_after_s
        self.clock = clock
        """Monotonic seconds; a test passes a fake one to see ``stalled()`` without waiting."""
        self.binding_checks = binding_checks
        """False only in the ``ingest_secure`` benchmark's baseline (no authorisation, no
        conflict detection); never in a deployment."""
        self._last_progress = clock()
        self._waiting_since = clock()
        self.connected = threading.Event()
        self.pending_high_water = 0
        """The most messages held unacknowledged at once (≤ ``queue_max + batch_max``)."""
        self._held = 0
        self._held_lock = threading.Lock()
        self._queue: queue.Queue[paho.MQTTMessage | None] = queue.Queue(self.queue_max)
        """Received messages for the writer; ``None`` wakes it to stop."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)
        self.slot_lost = False
        """Another process holds this worker's session slot now: it stopped consuming."""
        self._next_renewal = 0.0
        # A named worker resumes its session after a restart; an unnamed one gets an id of
        # its own (or its slot's, taken at start), so two workers never take over each
        # other's session.
        self._client = self._make_client(client_id)

    def _make_client(self, client_id: str | None) -> paho.Client:
        client = make_client(self.mqtt, role="vitalgate-ingest", client_id=client_id)
        client.manual_ack_set(True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        _tune_collector()
        if self.slot is not None:
            self._client = self._make_client(self.slot.claim())
            self._next_renewal = time.monotonic() + RENEW_EVERY_S
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

    def stalled(self) -> str | None:
        """Why the worker counts as stuck (messages waiting, no batch finished for
        ``stall_after_s``), or None while it keeps up."""
        if self.slot_lost:
            return "its session slot was taken by another worker: restart it"
        with self._held_lock:
            held = self._held
            since = max(self._last_progress, self._waiting_since)
        idle = self.clock() - since
        if held and idle >= self.stall_after_s:
            return f"no progress for {idle:.0f} s with {held} messages waiting"
        return None

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(queue.Full):  # a full queue means the writer is not waiting
            self._queue.put_nowait(None)  # wake the writer now, not at its next poll
        self._thread.join(timeout=10)
        self._client.disconnect()  # the session stays for ``session_expiry_s``
        self._client.loop_stop()
        if self.slot is not None and not self.slot_lost:
            try:
                self.slot.release()  # so the next worker to start resumes this session
            except Exception:  # the lease then expires on its own
                log.warning("ingest.slot_not_released", client_id=self.slot.client_id)

    # ------------------------------------------------------------------ paho thread
    def _on_connect(
        self, client: paho.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Properties | None
    ) -> None:
        if rc.is_failure:
            log.error(
                "ingest.connect_refused", peer=f"{self.mqtt.host}:{self.mqtt.port}", reason=str(rc)
            )
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
        log.warning(
            "ingest.disconnected", peer=f"{self.mqtt.host}:{self.mqtt.port}", reason=str(rc)
        )

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
                if self._held == 0:
                    self._waiting_since = self.clock()
                self._held += 1
                self.pending_high_water = max(self.pending_high_water, self._held)
            metrics.INGEST_PENDING.set(self._held)
            return

    # ------------------------------------------------------------------ writer thread
    def _run(self) -> None:
        batch: list[paho.MQTTMessage] = []
        while not self._stop.is_set():
            self._renew_slot()
            batch = batch or self._collect()
            if not batch:
                continue
            try:
                self._commit_with_retry(batch)
                batch = []
            except Exception:  # the writer must outlive a fault; /readyz reports it stalled
                log.exception("ingest.writer_fault", advice="a fault in the cloud: report it")
                self._stop.wait(DB_RETRY_MAX_S)

    def _renew_slot(self) -> None:
        """Keep the session slot's lease; if another process holds it now (this worker's
        lease ran out, the database away longer than its time to live), stop consuming
        under that name: ``/readyz`` reports it, and a restart takes a free slot."""
        if self.slot is None or self.slot_lost or time.monotonic() < self._next_renewal:
            return
        self._next_renewal = time.monotonic() + RENEW_EVERY_S
        try:
            kept = self.slot.renew()
        except Exception as exc:  # the database away: nobody else can take it either
            log.warning("ingest.slot_not_renewed", error=type(exc).__name__)
            return
        if not kept:
            self.slot_lost = True
            log.error(
                "ingest.slot_lost",
                client_id=self.slot.client_id,
                advice="another worker took this session's name; restart this worker",
            )
            self._client.disconnect()

    def _collect(self) -> list[paho.MQTTMessage]:
        try:
            first = self._queue.get(timeout=0.5)
        except queue.Empty:
            return []
        if first is None:
            return []
        batch = [first]
        steady = time.monotonic() - self._last_batch_done < STEADY_AFTER_S
        deadline = time.monotonic() + (self.steady_window_s if steady else self.flush_s)
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
        """Store a batch, holding it while the database cannot be reached; a batch the
        database refuses is stored message by message, and a refused message dead-lettered."""
        attempt = 0
        while not self._stop.is_set():
            delay = DB_RETRY.delay_s(attempt)
            try:
                outcome = self._store(batch, now=datetime.now(UTC))
            except Exception as exc:  # sorted below: hold, split or dead-letter
                if faults.unavailable(exc):
                    metrics.INGEST_DB_ERRORS.inc()
                    log.error(
                        "ingest.db_unavailable",
                        error=type(exc).__name__,
                        retry_in_s=delay,
                        advice="check the database; nothing is acknowledged until it is back",
                    )
                elif len(batch) > 1:
                    log.warning("ingest.batch_refused", error=type(exc).__name__, size=len(batch))
                    for msg in batch:
                        self._commit_with_retry([msg])
                    return
                else:
                    refused = self._refuse_alone(batch[0], exc)
                    if refused is not None:
                        self._finish(batch, refused)
                        return
                self._stop.wait(delay)
                attempt += 1
                continue
            self._finish(batch, outcome)
            return

    def process(self, batch: list[paho.MQTTMessage], *, now: datetime) -> None:
        """Validate, store, evaluate and commit one batch; then acknowledge it."""
        self._finish(batch, self._store(batch, now=now))

    def _store(self, batch: list[paho.MQTTMessage], *, now: datetime) -> Outcome:
        pending = Pending()
        for msg in batch:
            parse(msg.topic, bytes(msg.payload), pending, now=now, topic_root=self.mqtt.topic_root)
        return store(
            self.sessions,
            pending,
            now=now,
            channels=self.channel_labels,
            rulebook=self.rulebook,
            topic_root=self.mqtt.topic_root,
            binding_checks=self.binding_checks,
        )

    def _refuse_alone(self, msg: paho.MQTTMessage, exc: Exception) -> Outcome | None:
        """Dead-letter one message that could not be stored; None if the database has gone
        away meanwhile (then the message is held like any other)."""
        now = datetime.now(UTC)
        log.error("ingest.store_refused", topic=msg.topic[:128], error=type(exc).__name__)
        dead = DeadLetter(
            received_at=now,
            topic=faults.clean(msg.topic)[:512],
            reason=faults.unstorable(exc),
            payload=bytes(msg.payload),
        )
        try:
            with self.sessions.begin() as session:
                session.add(dead)
        except Exception as again:
            if faults.unavailable(again):
                return None
            raise
        # Its batch is acknowledged like any committed one: kept as a dead letter, it must not
        # come back from the gateway's outbox forever.
        parsed = Pending()
        parse(msg.topic, bytes(msg.payload), parsed, now=now, topic_root=self.mqtt.topic_root)
        batch_ids = {b for ids in parsed.acks.values() for b in ids}
        pending = Pending(dead=[dead], acks=parsed.acks, dead_batches=batch_ids)
        return Outcome(pending=pending, stored=Upserted(), quarantined=0, now=now)

    def _finish(self, batch: list[paho.MQTTMessage], outcome: Outcome) -> None:
        """After the commit: PUBACK, end-to-end acks, counters, wake the notifier. A fault
        here is logged; the batch is committed and is not stored again."""
        self._acknowledge(batch)
        try:
            for gateway_id, batch_ids in outcome.pending.acks.items():
                topic = wire.Topics(gateway_id, self.mqtt.topic_root).acks
                acks = [wire.Ack(batch_ids=tuple(batch_ids))]
                dead = tuple(b for b in batch_ids if b in outcome.pending.dead_batches)
                if dead:  # first, so a gateway that reads ``dead_letters`` counts them
                    acks.insert(0, wire.Ack(batch_ids=dead, dead_letters=dead))
                for ack in acks:
                    payload = self.signer.encode(ack, gateway_id=gateway_id)
                    self._client.publish(topic, payload, qos=1)
            self._count(batch, outcome)
            if outcome.new_alerts and self.on_alerts is not None:
                self.on_alerts()
        except Exception:
            log.exception("ingest.after_commit_failed", advice="a fault in the cloud: report it")

    def _acknowledge(self, batch: list[paho.MQTTMessage]) -> None:
        """PUBACK a committed batch: the broker may then send as many messages again."""
        self._last_batch_done = time.monotonic()
        with self._held_lock:
            self._held -= len(batch)
            self._last_progress = self.clock()
        metrics.INGEST_PENDING.set(self._held)
        for msg in batch:
            self._client.ack(msg.mid, msg.qos)

    def _count(self, batch: list[paho.MQTTMessage], outcome: Outcome) -> None:
        pending = outcome.pending
        inserted, conflicts = len(outcome.stored.inserted), len(outcome.stored.conflicts)
        metrics.INGEST_READINGS.inc(inserted)
        metrics.INGEST_QUARANTINED.inc(outcome.quarantined)
        metrics.INGEST_CONFLICTS.inc(conflicts)
        if outcome.refused:
            metrics.INGEST_REFUSED.labels(kind="readings").inc(outcome.refused)
        for dead in pending.dead:
            if dead.reason.startswith(edge_batches.REFUSED):
                metrics.INGEST_REFUSED.labels(kind=dead.topic.rsplit("/", 1)[-1][:32]).inc()
        if conflicts:
            log.warning("ingest.conflicts", count=conflicts, advice="see the quarantine")
        repeats = len(pending.rows) - inserted - outcome.refused - conflicts
        metrics.INGEST_DUPLICATES.inc(max(0, repeats))
        metrics.DEAD_LETTERS.inc(len(pending.dead))
        metrics.INGEST_BATCH_SIZE.observe(len(batch))
        for msg in batch:
            metrics.INGEST_MESSAGES.labels(topic=msg.topic.rsplit("/", 1)[-1][:32]).inc()
        if pending.oldest_sent_at is not None:
            lag = (outcome.now - pending.oldest_sent_at).total_seconds()
            metrics.INGEST_LAG.observe(max(0.0, lag))


_COLLECTOR_TUNED = threading.Event()


def _tune_collector() -> None:
    """Once a process, when a worker starts: what the process holds for its lifetime to
    the collector's permanent generation (``gc.freeze``, as the API does at start-up), and
    young collections every ``GC_YOUNG_THRESHOLD`` allocations, not every 700."""
    if _COLLECTOR_TUNED.is_set():
        return
    _COLLECTOR_TUNED.set()
    gc.freeze()
    young, middle, old = gc.get_threshold()
    if young:  # 0: collection turned off by whoever runs the process; leave it so
        gc.set_threshold(max(young, GC_YOUNG_THRESHOLD), middle, old)
