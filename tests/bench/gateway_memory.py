"""Resident memory of the gateway's BLE stage with 10 devices streaming for an hour.

``python -m tests.bench gateway_memory``. Ten simulated devices (seven heart-rate straps and
three pulse oximeters, one value a second each) run through the real ``DeviceManager`` on
the simulated radio for an hour of simulated time; every measurement becomes wire readings,
as in the gateway. Resident set size (VmRSS) is sampled every five simulated minutes.

Figures: ``rss_peak_mb`` against the 120 MB budget (ratio = budget / peak, higher is better),
``rss_growth_mb_per_h`` over the second half hour (flat means ≈ 0), and the simulated
notifications handled per wall-clock second.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from firmware_sim.devices import HeartRateStrap, PulseOximeter
from firmware_sim.devices.base import DEFAULT_START
from firmware_sim.radio import SimLink, SimRadio
from gateway.ble.manager import DeviceManager
from gateway.ble.measurement import Measurement
from gateway.ble.state import DeviceState
from gateway.readings import to_wire
from gateway.wire import PatientAssignment
from tests.bench._common import Figure

BUDGET_MB = 120.0
DEVICES = 10
SAMPLE_EVERY_S = 300


def rss_mb() -> float:
    """Resident set size of this process, in MB (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("VmRSS not available")


class _Clock:
    def __init__(self) -> None:
        self.now = DEFAULT_START

    def __call__(self) -> Any:
        return self.now


async def _simulate(simulated_s: int, data_dir: Path) -> tuple[list[float], int, float]:
    radio, clock = SimRadio(), _Clock()
    streams: list[Any] = []
    devices = []
    for n in range(DEVICES):
        address = f"0D:00:00:00:00:{n + 1:02X}"
        kind = "hr_strap" if n < 7 else "pulse_oximeter"
        cls = HeartRateStrap if n < 7 else PulseOximeter
        streams.append(radio.add(cls(address, seed=n)))
        devices.append(
            DeviceState(
                device_id=f"dev-{n}",
                address=address,
                kind=kind,
                patients=[PatientAssignment(patient_id=f"p-{n}")],
                paired_at=DEFAULT_START,
            )
        )
    readings = 0

    def sink(m: Measurement) -> None:
        nonlocal readings
        readings += len(to_wire(m))

    manager = DeviceManager(
        SimLink(radio),
        data_dir=data_dir,
        gateway_id="gw-bench",
        sink=sink,
        events=lambda e: None,
        devices=devices,
        clock_fn=clock,
        scan_interval_s=1.0,
        scan_duration_s=0.0,
    )
    task = asyncio.create_task(manager.run())
    try:
        async with asyncio.timeout(30):
            while not all(s.subscribed(0x2A37) or s.subscribed(0x2A5F) for s in streams):
                await asyncio.sleep(0.01)
        samples = []
        start = time.perf_counter()
        for second in range(simulated_s):
            for device in streams:
                device.tick()
            clock.now += timedelta(seconds=1)
            if second % 10 == 0:
                await asyncio.sleep(0)
            if second % SAMPLE_EVERY_S == 0:
                for device in streams[:7]:
                    device.emitted.clear()  # the simulator's own record, not the gateway's
                gc.collect()
                samples.append(rss_mb())
        elapsed = time.perf_counter() - start
        gc.collect()
        samples.append(rss_mb())
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return samples, readings, simulated_s * DEVICES / elapsed


def run(simulated_s: int = 3600) -> Iterator[Figure]:
    with tempfile.TemporaryDirectory(prefix="vitalgate-bench-") as tmp:
        samples, readings, rate = asyncio.run(_simulate(simulated_s, Path(tmp)))
    peak = max(samples)
    half = samples[len(samples) // 2 :]
    hours = (len(half) - 1) * SAMPLE_EVERY_S / 3600 or 1.0
    growth = (half[-1] - half[0]) / hours
    extra = {
        "devices": DEVICES,
        "simulated_s": simulated_s,
        "readings": readings,
        "rss_start_mb": round(samples[0], 1),
    }
    yield Figure(
        "gateway_memory.rss_peak_mb",
        round(peak, 1),
        "MB",
        BUDGET_MB,
        round(BUDGET_MB / peak, 2),
        extra,
    )
    yield Figure("gateway_memory.rss_growth_mb_per_h", round(growth, 2), "MB/h", extra=extra)
    yield Figure("gateway_memory.notifications_per_s", round(rate), "1/s", extra=extra)
