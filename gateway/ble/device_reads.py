"""What the gateway reads from a device on each connection: battery, device information
and its clock (set over Current Time when more than 2 minutes off, else corrected for).

A mixin of ``DeviceRuntime``: each read the device may refuse is counted, not fatal.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Final

import structlog

from gateway.ble import clock
from gateway.ble.kinds import BATTERY_LEVEL, CURRENT_TIME, DEVICE_INFORMATION, KindBehaviour
from gateway.ble.link import BleConnection, BleError
from gateway.ble.measurement import Measurement, MeasurementSink
from gateway.ble.problems import Problem, ProblemTracker
from gateway.ble.profiles import BatteryLevel, ProfileError, decode
from gateway.ble.state import DeviceState

log = structlog.get_logger(__name__)

CLOCK_SYNC_TIMEOUT_S: Final = 30.0


class DeviceReads:
    """Battery, information and clock reads of ``DeviceRuntime`` (which sets these)."""

    device: DeviceState
    behaviour: KindBehaviour
    problems: ProblemTracker
    connected: bool
    now: Callable[[], datetime]
    sink: MeasurementSink
    battery_readings: bool
    _conn: BleConnection | None
    _offset: timedelta
    _clock_was_set: bool

    @property
    def device_id(self) -> str:
        return self.device.device_id

    def _count(self, reason: str) -> None:
        raise NotImplementedError

    def _bad(self, what: str, exc: Exception) -> None:
        raise NotImplementedError

    def _on_notify(self, char: str, data: bytes) -> None:
        raise NotImplementedError

    def _touch(self) -> None:
        raise NotImplementedError

    async def sync_clock(self) -> bool:
        """Check (and set) the clock on the open connection now; False when not connected."""
        conn = self._conn
        if conn is None or not self.connected:
            return False
        try:
            async with asyncio.timeout(CLOCK_SYNC_TIMEOUT_S):
                await self._check_clock(conn)
        except (BleError, TimeoutError) as exc:
            log.info("ble.clock_sync_failed", device_id=self.device_id, reason=str(exc))
            return False
        return True

    async def _optional(self, conn: BleConnection, what: str, call: Awaitable[Any]) -> Any:
        """A GATT call the device may refuse without the link being at fault: None (logged
        and counted) when it does; a lost link still raises."""
        try:
            return await call
        except BleError as exc:
            if not conn.is_connected:
                raise
            self._count("refused")
            log.info("ble.refused", device_id=self.device_id, what=what, reason=str(exc))
            return None

    async def _read_battery(self, conn: BleConnection) -> None:
        raw = await self._optional(conn, "battery", conn.read(BATTERY_LEVEL))
        if raw is None:
            return
        try:
            level = decode(BATTERY_LEVEL, raw).percent
        except ProfileError as exc:
            self._bad("battery", exc)
            return
        self._battery(level)
        if self.behaviour.streams:
            with contextlib.suppress(BleError):
                await conn.start_notify(BATTERY_LEVEL, self._on_notify)

    def _battery(self, level: int) -> None:
        """Keep the level for the status; hand it on as a ``battery_level`` reading when it
        changed (so once per change, not once per connection)."""
        changed = level != self.device.battery
        now = self.now()
        self.device.battery = level
        self._touch()
        self.problems.battery(level, now=now)
        if changed and self.battery_readings and self.device.patients:
            # A shared cuff's battery is charted with the first patient of the household.
            patient = self.device.patients[0].patient_id
            self.sink(Measurement(self.device_id, patient, BATTERY_LEVEL, BatteryLevel(level), now))

    async def _read_info(self, conn: BleConnection, chars: frozenset[str]) -> None:
        info = self.device.info.model_copy()
        for uuid, field in DEVICE_INFORMATION.items():
            if uuid not in chars:
                continue
            raw = await self._optional(conn, field, conn.read(uuid))
            try:
                if raw is not None:
                    setattr(info, field, decode(uuid, raw).text[:64])
            except ProfileError as exc:
                self._bad("device_information", exc)
        self.device.info = info
        self._touch()

    async def _check_clock(self, conn: BleConnection) -> None:
        raw = await self._optional(conn, "clock", conn.read(CURRENT_TIME))
        now = self.now()
        decision = clock.decide(raw, now=now, writable=True)
        if decision.action is clock.ClockAction.SET:
            written = clock.current_time_bytes(now)
            if await self._optional(conn, "set clock", self._write(conn, CURRENT_TIME, written)):
                self._clock_was_set = True
                self.device.clock_set_at = now
                log.info("ble.clock_set", device_id=self.device_id, offset_s=decision.offset_s)
            else:
                decision = clock.decide(raw, now=now, writable=False)
        self._offset = decision.offset
        self.device.clock_offset_s = decision.offset_s
        self._touch()
        if decision.drifted:
            self.problems.raise_(
                Problem.CLOCK_DRIFT,
                now=now,
                offset_s=decision.offset_s,
                action=decision.action.value,
            )
        else:
            self.problems.clear(Problem.CLOCK_DRIFT, now=now, offset_s=decision.offset_s)

    async def _write(self, conn: BleConnection, char: str, data: bytes) -> bool:
        await conn.write(char, data, response=True)
        return True
