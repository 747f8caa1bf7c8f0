"""The gateway process, wired in the order of DESIGN.md's diagram:

BLE link → device sessions (decode) → readings → outbox (SQLite WAL) → uplink (MQTT).

The signal stage (cleaning, rollups, edge rules) plugs in between readings and outbox.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import structlog

from gateway import __version__, wire
from gateway.ble.link import BleLink
from gateway.ble.session import DeviceSession, Measurement
from gateway.outbox import Kind, Outbox
from gateway.readings import to_wire
from gateway.settings import GatewaySettings
from gateway.uplink.mqtt import Uplink

log = structlog.get_logger(__name__)

QUEUE_LIMIT: Final = 10_000
WRITE_BATCH: Final = 500


class Gateway:
    def __init__(self, settings: GatewaySettings, link: BleLink) -> None:
        self.settings = settings
        self.link = link
        self.outbox = Outbox(settings.outbox_path)
        self.queue: asyncio.Queue[Measurement] = asyncio.Queue(QUEUE_LIMIT)
        self.dropped = 0
        self.sessions = [
            DeviceSession(
                link,
                address=d.address,
                device_id=d.device_id,
                patient_id=d.patient_id,
                sink=self._enqueue,
                reconnect_max_s=settings.reconnect_max_s,
            )
            for d in settings.devices
        ]
        self.uplink = Uplink(
            settings.mqtt,
            self.outbox,
            gateway_id=settings.gateway_id,
            status=self.status,
            batch_size=settings.batch_size,
            ack_timeout_s=settings.ack_timeout_s,
            flush_interval_s=settings.flush_interval_s,
            status_interval_s=settings.status_interval_s,
        )

    def _enqueue(self, m: Measurement) -> None:
        try:
            self.queue.put_nowait(m)
        except asyncio.QueueFull:
            self.dropped += 1
            log.error("gateway.queue_full", device_id=m.device_id, dropped=self.dropped)

    def status(self) -> wire.Status:
        stats = self.outbox.stats()
        config = self.uplink.config
        return wire.Status(
            gateway_id=self.settings.gateway_id,
            state=wire.GatewayState.ONLINE,
            ts=datetime.now(UTC),
            version=__version__,
            outbox_depth=stats.depth,
            outbox_oldest_age_s=stats.oldest_age_s,
            config_version=config.version if config else None,
            devices=tuple(
                wire.DeviceStatus(
                    device_id=s.device_id,
                    kind="hr_strap",
                    connected=s.connected,
                    last_seen=s.last_seen,
                )
                for s in self.sessions
            ),
        )

    async def _write_outbox(self) -> None:
        """Drain the queue into the outbox, one durable transaction per batch."""
        while True:
            items = [await self.queue.get()]
            while len(items) < WRITE_BATCH and not self.queue.empty():
                items.append(self.queue.get_nowait())
            rows = [(Kind.READING, wire.encode(r).decode()) for m in items for r in to_wire(m)]
            await asyncio.to_thread(self.outbox.add, rows)
            self.uplink.wake()

    async def _write_state(self) -> None:
        """Keep ``status.json`` current for ``vitalgate-gateway status``."""
        while True:
            state = json.loads(wire.encode(self.status()))
            state["broker_connected"] = self.uplink.connected.is_set()
            tmp = self.settings.state_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(state, indent=2))
            tmp.replace(self.settings.state_path)
            await asyncio.sleep(1.0)

    def _drain(self) -> None:
        """On shutdown, commit what is still queued so a clean stop loses nothing."""
        items = []
        while not self.queue.empty():
            items.append(self.queue.get_nowait())
        self.outbox.add((Kind.READING, wire.encode(r).decode()) for m in items for r in to_wire(m))

    async def run(self, *, background: Sequence[Coroutine[Any, Any, None]] = ()) -> None:
        """Run every stage until cancelled; ``background`` adds tasks (simulated devices)."""
        log.info("gateway.start", gateway_id=self.settings.gateway_id, devices=len(self.sessions))
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.uplink.run(), name="uplink")
                tg.create_task(self._write_outbox(), name="outbox-writer")
                tg.create_task(self._write_state(), name="state")
                for session in self.sessions:
                    tg.create_task(session.run(), name=f"ble-{session.device_id}")
                for i, coro in enumerate(background):
                    tg.create_task(coro, name=f"background-{i}")
        finally:
            self._drain()
            self.outbox.close()
            log.info("gateway.stop", gateway_id=self.settings.gateway_id)
