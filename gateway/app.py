"""The gateway process, wired in the order of DESIGN.md's diagram:

BLE link → device sessions (decode) → readings → outbox (SQLite WAL) → uplink (MQTT).

The signal stage (cleaning, rollups, edge rules) plugs in between readings and outbox.
The downlink runs the other way: the cloud's retained config replaces the device sessions
(pairings) in one step, and commands are answered on ``…/command_results``.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import structlog

from gateway import __version__, wire
from gateway.ble.link import BleLink
from gateway.ble.session import DeviceSession, Measurement
from gateway.outbox import Kind, Outbox, Row
from gateway.readings import to_wire
from gateway.settings import DeviceConfig, GatewaySettings
from gateway.uplink import commands
from gateway.uplink.config import ConfigStore, Verdict, decide
from gateway.uplink.mqtt import Uplink

log = structlog.get_logger(__name__)

QUEUE_LIMIT: Final = 10_000
WRITE_BATCH: Final = 500
STATE_INTERVAL_S: Final = 1.0
REMEMBERED_COMMANDS: Final = 256
"""Results kept so a command the broker delivers twice (QoS 1) runs only once."""

WallClock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def devices_from_config(config: wire.GatewayConfig) -> list[DeviceConfig]:
    """The device sessions a cloud config asks for: pairings with an address, first patient."""
    devices = []
    for pairing in config.pairings:
        if pairing.address is None:
            log.warning("config.pairing_without_address", device_id=pairing.device_id)
            continue
        devices.append(
            DeviceConfig(
                device_id=pairing.device_id,
                address=pairing.address,
                kind=pairing.kind,
                patient_id=pairing.patients[0].patient_id,
            )
        )
    return devices


def rows_of(items: Sequence[Measurement]) -> list[Row]:
    """Outbox rows of decoded measurements; a measurement's readings share a group."""
    return [
        (Kind.READING, wire.encode(r).decode(), r.measurement_id) for m in items for r in to_wire(m)
    ]


class Gateway:
    def __init__(
        self, settings: GatewaySettings, link: BleLink, *, wall: WallClock = _utcnow
    ) -> None:
        self.settings = settings
        self.link = link
        self.wall = wall
        self.outbox = Outbox(settings.outbox_path, budget_bytes=settings.outbox_budget_bytes)
        self.queue: asyncio.Queue[Measurement] = asyncio.Queue(QUEUE_LIMIT)
        self.dropped = 0
        self.config_store = ConfigStore(settings.config_path)
        self.config = self.config_store.load()
        if self.config is not None and self.config.gateway_id != settings.gateway_id:
            log.error(
                "config.foreign_file",
                path=str(settings.config_path),
                advice="the data directory holds another gateway's config; it is ignored",
            )
            self.config = None
        self._accepted = self.config  # the newest config persisted (paho thread's view)
        devices = devices_from_config(self.config) if self.config else settings.devices
        self.sessions: dict[str, DeviceSession] = {d.device_id: self._session(d) for d in devices}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._tg: asyncio.TaskGroup | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._results: OrderedDict[str, wire.CommandResult] = OrderedDict()
        self.uplink = Uplink(
            settings.mqtt,
            self.outbox,
            gateway_id=settings.gateway_id,
            status=self.status,
            batch_size=settings.batch_size,
            window=settings.window,
            ack_timeout_s=settings.ack_timeout_s,
            flush_interval_s=settings.flush_interval_s,
            status_interval_s=settings.status_interval_s,
            on_config=self._on_config,
            on_command=self._on_command,
            wall=wall,
        )

    def _session(self, d: DeviceConfig) -> DeviceSession:
        return DeviceSession(
            self.link,
            address=d.address,
            device_id=d.device_id,
            patient_id=d.patient_id,
            sink=self._enqueue,
            reconnect_max_s=self.settings.reconnect_max_s,
            clock=self.wall,
        )

    def _enqueue(self, m: Measurement) -> None:
        try:
            self.queue.put_nowait(m)
        except asyncio.QueueFull:
            self.dropped += 1
            log.error("gateway.queue_full", device_id=m.device_id, dropped=self.dropped)

    # ------------------------------------------------------------------ status
    def status(self) -> wire.Status:
        stats = self.outbox.stats(now=self.wall().timestamp())
        return wire.Status(
            gateway_id=self.settings.gateway_id,
            state=wire.GatewayState.ONLINE,
            ts=self.wall(),
            version=__version__,
            outbox_depth=stats.depth,
            outbox_oldest_age_s=stats.oldest_age_s,
            config_version=self.config.version if self.config else None,
            devices=tuple(
                wire.DeviceStatus(
                    device_id=s.device_id,
                    kind="hr_strap",
                    connected=s.connected,
                    last_seen=s.last_seen,
                )
                for s in self.sessions.values()
            ),
        )

    def local_state(self) -> dict[str, Any]:
        """What ``vitalgate-gateway status`` shows: the status message plus local figures."""
        state: dict[str, Any] = json.loads(wire.encode(self.status()))
        stats = self.outbox.stats(now=self.wall().timestamp())
        state.update(
            broker_connected=self.uplink.connected.is_set(),
            outbox_unpublished=stats.unpublished,
            outbox_bytes=stats.bytes_used,
            outbox_budget_bytes=stats.budget_bytes,
            outbox_thinned=stats.thinned,
            dropped_queue_full=self.dropped,
            pid=os.getpid(),
        )
        return state

    # ------------------------------------------------------------------ downlink
    def _on_config(self, config: wire.GatewayConfig) -> None:
        """paho thread: accept a newer config, persist it, then apply it on the loop."""
        decision = decide(self._accepted, config, gateway_id=self.settings.gateway_id)
        if decision.verdict is not Verdict.APPLY:
            if decision.verdict is not Verdict.SAME:
                log.warning("config.ignored", verdict=decision.verdict, reason=decision.reason)
            return
        self.config_store.save(config)  # durable before it takes effect
        self._accepted = config
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._apply_config, config)

    def _apply_config(self, config: wire.GatewayConfig) -> None:
        """Loop thread, no await: swap the device sessions and the config in one step."""
        if self.config is not None and config.version <= self.config.version:
            return
        wanted = {d.device_id: d for d in devices_from_config(config)}
        for device_id, session in list(self.sessions.items()):
            d = wanted.get(device_id)
            if d is None or (d.address, d.patient_id) != (session.address, session.patient_id):
                task = self._tasks.pop(device_id, None)
                if task is not None:
                    task.cancel()
                del self.sessions[device_id]
        for device_id, d in wanted.items():
            if device_id not in self.sessions:
                self.sessions[device_id] = self._session(d)
                self._start_session(device_id)
        self.config = config
        log.info("config.applied", version=config.version, devices=sorted(self.sessions))
        self.uplink.publish_status()

    def _on_command(self, cmd: wire.Command) -> None:
        """paho thread: run a command once and publish its result."""
        result = self._results.get(cmd.command_id)
        if result is None:
            facts = commands.GatewayFacts(
                gateway_id=self.settings.gateway_id,
                version=__version__,
                now=self.wall(),
                config_version=self.config.version if self.config else None,
                outbox_depth=self.outbox.stats().depth,
                devices=tuple(sorted(self.sessions.copy())),
            )
            result = commands.execute(cmd, facts)
            self._results[cmd.command_id] = result
            while len(self._results) > REMEMBERED_COMMANDS:
                self._results.popitem(last=False)
            log.info("command.done", command=cmd.name, command_id=cmd.command_id, ok=result.ok)
        self.uplink.publish_result(result)

    # ------------------------------------------------------------------ stages
    def _start_session(self, device_id: str) -> None:
        if self._tg is not None:
            session = self.sessions[device_id]
            self._tasks[device_id] = self._tg.create_task(session.run(), name=f"ble-{device_id}")

    async def _write_outbox(self) -> None:
        """Drain the queue into the outbox, one durable transaction per batch."""
        while True:
            items = [await self.queue.get()]
            while len(items) < WRITE_BATCH and not self.queue.empty():
                items.append(self.queue.get_nowait())
            now = self.wall().timestamp()
            await asyncio.to_thread(self.outbox.add, rows_of(items), now=now)
            self.uplink.wake()

    async def _write_state(self) -> None:
        """Keep ``status.json`` current for ``vitalgate-gateway status``."""
        while True:
            tmp = self.settings.state_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.local_state(), indent=2))
            tmp.replace(self.settings.state_path)
            await asyncio.sleep(STATE_INTERVAL_S)

    def _drain(self) -> None:
        """On shutdown, commit what is still queued so a clean stop loses nothing."""
        items = []
        while not self.queue.empty():
            items.append(self.queue.get_nowait())
        self.outbox.add(rows_of(items), now=self.wall().timestamp())

    async def run(self, *, background: Sequence[Coroutine[Any, Any, None]] = ()) -> None:
        """Run every stage until cancelled; ``background`` adds tasks (simulated devices)."""
        log.info(
            "gateway.start",
            gateway_id=self.settings.gateway_id,
            devices=len(self.sessions),
            config_version=self.config.version if self.config else None,
        )
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        self._loop = asyncio.get_running_loop()
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                tg.create_task(self.uplink.run(), name="uplink")
                tg.create_task(self._write_outbox(), name="outbox-writer")
                tg.create_task(self._write_state(), name="state")
                for device_id in list(self.sessions):
                    self._start_session(device_id)
                for i, coro in enumerate(background):
                    tg.create_task(coro, name=f"background-{i}")
        finally:
            self._tg = None
            self._drain()
            self.outbox.close()
            log.info("gateway.stop", gateway_id=self.settings.gateway_id)
