"""Helpers for BLE runtime tests: a fake clock, a fake sleep, polling with a deadline."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from firmware_sim.devices.base import DEFAULT_START
from gateway import wire
from gateway.ble.measurement import Measurement
from gateway.ble.runtime import DeviceRuntime
from gateway.ble.state import DeviceState, StateStore
from gateway.wire import PatientAssignment


async def until(predicate: Callable[[], object], timeout: float = 15.0) -> None:
    """Poll ``predicate`` until true; TimeoutError after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


@dataclass
class FakeClock:
    """Simulated time: ``sleep`` advances it instead of waiting."""

    now: datetime = DEFAULT_START
    slept: list[float] = field(default_factory=list)
    devices: list[Any] = field(default_factory=list)
    """Simulated devices whose true time follows this clock."""

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        for device in self.devices:
            device.set_time(self.now)

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)
        await asyncio.sleep(0.001)


@dataclass
class Collected:
    measurements: list[Measurement] = field(default_factory=list)
    events: list[wire.Event] = field(default_factory=list)

    def codes(self) -> list[tuple[str, str | None]]:
        return [(e.kind.value, e.code) for e in self.events]


def paired(
    device_id: str, address: str, kind: str, *patients: tuple[str, int | None]
) -> DeviceState:
    return DeviceState(
        device_id=device_id,
        address=address,
        kind=kind,
        patients=[PatientAssignment(patient_id=p, user_index=u) for p, u in patients],
        paired_at=DEFAULT_START,
    )


def runtime(
    link: Any,
    device: DeviceState,
    tmp: Path,
    got: Collected,
    clock: FakeClock,
    **kwargs: Any,
) -> tuple[DeviceRuntime, StateStore]:
    store = StateStore(tmp)
    store.put(device)
    rt = DeviceRuntime(
        link,
        device,
        store=store,
        sink=got.measurements.append,
        events=got.events.append,
        clock_fn=clock,
        sleep=clock.sleep,
        **kwargs,
    )
    return rt, store


async def running(
    coro: Coroutine[Any, Any, None], body: Callable[[], Coroutine[Any, Any, Any]]
) -> Any:
    """Run ``coro`` as a task while ``body`` runs, then cancel it."""
    task = asyncio.create_task(coro)
    try:
        return await body()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            async with asyncio.timeout(5):  # a task that ignores cancellation fails the test
                await task


async def close_bleak_bus() -> None:
    """bleak keeps one system-bus connection per event loop for the life of the process;
    close it before the test's loop ends so no socket outlives the test."""
    from bleak.backends.bluezdbus.manager import get_global_bluez_manager

    manager = await get_global_bluez_manager()
    bus = manager._bus
    if bus is not None and bus.connected:
        bus.disconnect()
        await bus.wait_for_disconnect()  # type: ignore[no-untyped-call]
