"""The gateway's MQTT uplink and downlink (paho-mqtt; the only gateway module importing it).

Publishes outbox batches at QoS 1 under MQTT 5 with a persistent session (clean start off,
session expiry); marks a batch sent on PUBACK and deletes it only on the cloud's end-to-end
acknowledgement (``…/acks``). At most ``window`` batches wait for that acknowledgement at
a time; one not acknowledged within ``ack_timeout_s`` is published again under the same
batch id (the cloud's upsert on reading ids makes repeats harmless). Timing uses the
monotonic clock only, so a jump of the wall clock neither stalls nor floods re-sends.

Keeps a retained ``status`` with a last will that says ``offline``; reconnects with jittered
exponential backoff (``gateway.uplink.backoff``). Downlink messages (``config``,
``commands``, ``acks``) are validated here, their signature checked when the gateway has
the cloud's verification key (``gateway.signing``), and handed to callbacks, on paho's
network thread; a refused one is counted in the status (``gateway.uplink.trust``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

import paho.mqtt.client as paho
import structlog
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gateway import signing, wire
from gateway.outbox import TOPIC_LEAF, Batch, Outbox
from gateway.uplink.backoff import reconnect_delay_s
from gateway.uplink.client import make_client
from gateway.uplink.errors import UplinkError
from gateway.uplink.settings import MqttSettings
from gateway.uplink.trust import Leaf, Refusals

__all__ = ["Uplink", "UplinkError"]

log = structlog.get_logger(__name__)

StatusFactory = Callable[[], wire.Status]
ConfigHandler = Callable[[wire.GatewayConfig], None]
CommandHandler = Callable[[wire.Command], None]
WallClock = Callable[[], datetime]
REFUSAL_STATUS_MIN_S = 1.0
"""A refusal refreshes the retained status soon, but at most this often (a flood of forged
messages must not become a flood of status messages)."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _no_delay(client: paho.Client) -> None:
    """Turn Nagle's algorithm off: a batch is one small write that should leave at once.

    With Nagle on, a PUBLISH can wait for the TCP ack of the previous one (up to the
    peer's delayed-ack timer, ~40 ms on Linux); ``gateway_latency`` measures the effect.
    """
    sock = client.socket()
    if isinstance(sock, socket.socket):  # TCP or TLS (ssl.SSLSocket is a socket.socket)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Uplink:
    """Moves outbox batches to the broker and applies acknowledgements coming back."""

    def __init__(
        self,
        settings: MqttSettings,
        outbox: Outbox,
        *,
        gateway_id: str,
        status: StatusFactory,
        batch_size: int = 200,
        window: int = 8,
        ack_timeout_s: float = 30.0,
        flush_interval_s: float = 0.2,
        status_interval_s: float = 30.0,
        on_config: ConfigHandler | None = None,
        on_command: CommandHandler | None = None,
        verify_key: signing.VerifyKey | None = None,
        refusals: Refusals | None = None,
        wall: WallClock = _utcnow,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self.outbox = outbox
        self.topics = wire.Topics(gateway_id, settings.topic_root)
        self.gateway_id = gateway_id
        self._status = status
        self.batch_size = batch_size
        self.window = window
        self.ack_timeout_s = ack_timeout_s
        self.flush_interval_s = flush_interval_s
        self.status_interval_s = status_interval_s
        self.connected = threading.Event()
        self.acked_batches = 0
        self.resent_batches = 0
        self.reconnect_attempt = 0
        self._on_config = on_config
        self._on_command = on_command
        self.verify_key = verify_key
        self.refusals = refusals if refusals is not None else Refusals()
        self._last_refusal_status = -REFUSAL_STATUS_MIN_S
        self._refusal_unreported = False
        self._wall = wall
        self._rand = rand
        self._check_leftovers = True
        self._lock = threading.Lock()
        self._in_flight: dict[str, float] = {}  # batch id → publish time (monotonic)
        self._mids: dict[int, str | None] = {}  # MQTT message id → batch id (None: other)
        self._early_pubacks: set[int] = set()
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client = self._make_client()

    # ---------------------------------------------------------------- client set-up
    def _make_client(self) -> paho.Client:
        # The gateway's id is its session's name: the session (and what the broker queued
        # for it) must survive a restart of the gateway.
        client = make_client(self.settings, role="gateway", client_id=self.gateway_id)
        offline = wire.Status(
            gateway_id=self.gateway_id, state=wire.GatewayState.OFFLINE, ts=self._wall()
        )
        client.will_set(self.topics.status, wire.encode(offline), qos=1, retain=True)
        self._schedule_reconnect(client, attempt=0)
        client.max_inflight_messages_set(max(20, self.window * 2))
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    def _schedule_reconnect(self, client: paho.Client, *, attempt: int) -> None:
        """Set the wait before paho's next connection attempt: jittered, growing per attempt."""
        s = self.settings
        delay = reconnect_delay_s(
            attempt, rand=self._rand, first_s=s.reconnect_min_s, cap_s=s.reconnect_max_s
        )
        # paho annotates the delays as int but computes with them as float seconds.
        client.reconnect_delay_set(cast(int, delay), cast(int, delay))
        self.reconnect_attempt = attempt

    # ---------------------------------------------------------------- paho thread
    def _on_connect(
        self, client: paho.Client, _u: Any, flags: Any, rc: ReasonCode, _p: Properties | None
    ) -> None:
        if rc.is_failure:
            log.error(
                "uplink.connect_refused",
                peer=f"{self.settings.host}:{self.settings.port}",
                reason=str(rc),
                advice="check the gateway's MQTT credentials or certificate, and its clock "
                "(a certificate is refused when the clock is far off)",
            )
            self._schedule_reconnect(client, attempt=self.reconnect_attempt + 1)
            return
        self._schedule_reconnect(client, attempt=0)
        _no_delay(client)
        client.subscribe(
            [(self.topics.acks, 1), (self.topics.config, 1), (self.topics.commands, 1)]
        )
        # paho re-sends what the broker had not PUBACKed; batches the cloud has not
        # acknowledged are re-sent after the ack timeout (or at once if left by a restart).
        self._check_leftovers = True
        self.connected.set()
        log.info("uplink.connected", session_present=bool(getattr(flags, "session_present", 0)))
        self._publish_status()
        self.wake()

    def _on_connect_fail(self, client: paho.Client, _u: Any) -> None:
        self._schedule_reconnect(client, attempt=self.reconnect_attempt + 1)
        log.warning(
            "uplink.connect_failed",
            peer=f"{self.settings.host}:{self.settings.port}",
            tls=self.settings.tls,
            reason="no connection: the broker is down or unreachable, or the TLS handshake "
            "failed (check mqtt.host, mqtt.port, the CA file and the gateway's clock)",
            attempt=self.reconnect_attempt,
        )

    def _on_disconnect(
        self, client: paho.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Properties | None
    ) -> None:
        if self.connected.is_set():
            log.warning(
                "uplink.disconnected",
                peer=f"{self.settings.host}:{self.settings.port}",
                reason=str(rc),
            )
        self.connected.clear()
        self._schedule_reconnect(client, attempt=self.reconnect_attempt + 1)

    def _on_publish(
        self, _c: paho.Client, _u: Any, mid: int, rc: ReasonCode, _p: Properties | None
    ) -> None:
        with self._lock:
            if mid not in self._mids:
                self._early_pubacks.add(mid)  # PUBACK overtook the bookkeeping in _track
                return
            batch_id = self._mids.pop(mid)
        if batch_id is not None and not rc.is_failure:
            self.outbox.mark_sent(batch_id)

    def _on_message(self, _c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        payload = bytes(msg.payload)
        try:
            _, leaf = wire.split_topic(msg.topic, self.settings.topic_root)
        except wire.WireError as exc:
            log.warning("uplink.bad_downlink", topic=msg.topic[:128], reason=str(exc)[:200])
            return
        if not payload or leaf not in wire.DOWNLINK_LEAVES:
            return  # an empty retained message only clears the topic
        try:
            if self.verify_key is not None:
                self._verify(payload)
            message = wire.decode(payload, expect=wire.TOPIC_SCHEMAS[leaf])
        except signing.SignatureError as exc:
            self.refused(cast(Leaf, leaf), str(exc))
            return
        except (wire.WireError, RecursionError, OverflowError) as exc:
            self.refused(cast(Leaf, leaf), f"malformed: {exc}")
            return
        try:
            self._dispatch(message)
        except Exception:  # a bad handler must not kill paho's network thread
            log.exception("uplink.downlink_failed", topic=msg.topic[:128])

    def _verify(self, payload: bytes) -> None:
        """Raise SignatureError unless ``payload`` carries the cloud's signature for us."""
        assert self.verify_key is not None
        try:
            body = json.loads(payload)
        except (ValueError, RecursionError) as exc:
            raise signing.SignatureError(f"not JSON: {str(exc)[:100]}") from exc
        if not isinstance(body, dict):
            raise signing.SignatureError("not a JSON object")
        signing.verify(body, gateway_id=self.gateway_id, key=self.verify_key)

    def refused(self, leaf: Leaf, reason: str) -> None:
        """Count a refused downlink message and say so in the retained status (thread-safe)."""
        self.refusals.add(leaf, reason, now=self._wall())
        self._refusal_unreported = True
        self.wake()

    def _dispatch(self, message: wire.WireMessage) -> None:
        if isinstance(message, wire.Ack):
            self.outbox.acknowledge(message.batch_ids, dead_lettered=message.dead_letters or ())
            with self._lock:
                for batch_id in message.batch_ids:
                    self._in_flight.pop(batch_id, None)
                self.acked_batches += len(message.batch_ids)
            self.wake()
        elif isinstance(message, wire.GatewayConfig) and self._on_config is not None:
            self._on_config(message)
        elif isinstance(message, wire.Command) and self._on_command is not None:
            self._on_command(message)

    def publish_result(self, result: wire.CommandResult) -> None:
        """Send a command's result (QoS 1; paho queues it while disconnected)."""
        self._track(self._client.publish(self.topics.command_results, wire.encode(result), qos=1))

    def publish_status(self) -> None:
        """Refresh the retained status now (after a config change, for instance)."""
        if self.connected.is_set():
            self._publish_status()

    def wake(self) -> None:
        """Ask the publish loop to look at the outbox now (thread-safe)."""
        if self._loop is not None and self._wake is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed at shutdown
                self._loop.call_soon_threadsafe(self._wake.set)

    def _publish_status(self) -> None:
        info = self._client.publish(
            self.topics.status, wire.encode(self._status()), qos=1, retain=True
        )
        self._track(info)

    # ---------------------------------------------------------------- asyncio side
    async def run(self) -> None:
        """Connect and keep publishing until cancelled; then say goodbye cleanly."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.settings.session_expiry_s
        self._client.connect_async(
            self.settings.host,
            self.settings.port,
            keepalive=self.settings.keepalive_s,
            clean_start=False,
            properties=props,
        )
        self._client.loop_start()
        try:
            await self._publish_loop()
        finally:
            await asyncio.to_thread(self._shutdown)

    def _shutdown(self) -> None:
        if self.connected.is_set():
            offline = wire.Status(
                gateway_id=self.gateway_id, state=wire.GatewayState.OFFLINE, ts=self._wall()
            )
            info = self._client.publish(
                self.topics.status, wire.encode(offline), qos=1, retain=True
            )
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout=2)
        self._client.disconnect()
        self._client.loop_stop()

    async def _publish_loop(self) -> None:
        assert self._wake is not None
        last_status = time.monotonic()
        last_resend_check = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.flush_interval_s):
                    await self._wake.wait()
            self._wake.clear()
            if not self.connected.is_set():
                continue
            now = time.monotonic()
            if self._check_leftovers or now - last_resend_check >= min(self.ack_timeout_s / 2, 5.0):
                self._check_leftovers = False
                last_resend_check = now
                await asyncio.to_thread(self._resend_overdue)
            await asyncio.to_thread(self._fill_window)
            refusal_due = (
                self._refusal_unreported and now - self._last_refusal_status >= REFUSAL_STATUS_MIN_S
            )
            if refusal_due or now - last_status >= self.status_interval_s:
                last_status = self._last_refusal_status = now
                self._refusal_unreported = False
                self._publish_status()

    def _fill_window(self) -> None:
        while self.connected.is_set():
            with self._lock:
                if len(self._in_flight) >= self.window:
                    return
            batch = self.outbox.take_batch(limit=self.batch_size)
            if batch is None:
                return
            self._send(batch)

    def _resend_overdue(self) -> None:
        """Publish again the batches the cloud has not acknowledged in time (monotonic clock).

        Go-back-N: from the oldest overdue batch on, every pending batch is published again
        in order, so after a loss the cloud receives the stream in the order it was taken
        (independent per-batch timers would let a newer batch overtake an older one). A
        batch this process never published (left by a previous run) is due at once.
        """
        going_back = False
        for batch_id in self.outbox.pending_batches():
            if not self.connected.is_set():
                return
            with self._lock:
                started = self._in_flight.get(batch_id)
            overdue = started is None or time.monotonic() - started >= self.ack_timeout_s
            if not (overdue or going_back):
                continue
            going_back = True
            batch = self.outbox.load_batch(batch_id)
            if batch is None:  # acknowledged meanwhile
                with self._lock:
                    self._in_flight.pop(batch_id, None)
                continue
            if started is not None:
                self.resent_batches += 1
                self.outbox.note_resent(len(batch.payloads))
                log.info("uplink.resend", batch_id=batch_id, rows=len(batch.payloads))
            self._send(batch)

    def _send(self, batch: Batch) -> None:
        payload = self._encode_batch(batch)
        with self._lock:
            self._in_flight[batch.batch_id] = time.monotonic()
        # Never hold our lock while calling into paho: its network thread holds paho's own
        # lock while it runs on_publish, which takes ours.
        info = self._client.publish(self.topics.leaf(TOPIC_LEAF[batch.kind]), payload, qos=1)
        if self._track(info, batch.batch_id):
            self.outbox.mark_sent(batch.batch_id)

    def _track(self, info: paho.MQTTMessageInfo, batch_id: str | None = None) -> bool:
        """Remember what a message id carries until its PUBACK; True if that already came.

        Every QoS 1 publish is tracked (status and results too), so a message id paho reuses
        later can never be mistaken for an early PUBACK.
        """
        with self._lock:
            if info.mid in self._early_pubacks:
                self._early_pubacks.discard(info.mid)
                return True
            self._mids[info.mid] = batch_id
            return False

    def _encode_batch(self, batch: Batch) -> bytes:
        leaf = TOPIC_LEAF[batch.kind]
        items = ",".join(batch.payloads)
        sent_at = self._wall().astimezone(UTC).isoformat().replace("+00:00", "Z")
        return (
            f'{{"schema":"{wire.TOPIC_SCHEMAS[leaf]}","gateway_id":"{self.gateway_id}",'
            f'"batch_id":"{batch.batch_id}","sent_at":"{sent_at}","{leaf}":[{items}]}}'
        ).encode()
