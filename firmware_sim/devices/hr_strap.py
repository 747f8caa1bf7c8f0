"""A chest-strap heart-rate monitor: Heart Rate Service (0x180D), streams 0x2A37 once a second
while a central is subscribed, as real straps do.
"""

from __future__ import annotations

import asyncio

from firmware_sim.encoders import encode_heart_rate
from firmware_sim.peripheral import SimPeripheral
from firmware_sim.physiology import HeartRateModel, HeartRateSource

HEART_RATE_SERVICE = 0x180D
HEART_RATE_MEASUREMENT = 0x2A37
BODY_SENSOR_LOCATION = 0x2A38
BATTERY_SERVICE = 0x180F
BATTERY_LEVEL = 0x2A19
CHEST = 1


class HeartRateStrap(SimPeripheral):
    """Emits one Heart Rate Measurement per ``interval_s`` of simulated time while subscribed.

    ``emitted`` records every (sample index, bpm) the strap sent, so tests can check the
    cloud's record against what the device produced.
    """

    def __init__(
        self,
        address: str,
        *,
        seed: int,
        model: HeartRateModel | None = None,
        interval_s: float = 1.0,
        name: str = "VG-HRM",
        battery: int = 87,
    ) -> None:
        super().__init__(address, name=name, service_uuids=(HEART_RATE_SERVICE, BATTERY_SERVICE))
        self.source = HeartRateSource(model or HeartRateModel(), seed=seed)
        self.interval_s = interval_s
        self.sample_index = 0
        self.emitted: list[tuple[int, int]] = []
        self.add_characteristic(HEART_RATE_MEASUREMENT, notify=True, readable=False)
        self.add_characteristic(BODY_SENSOR_LOCATION, value=bytes([CHEST]))
        self.add_characteristic(BATTERY_LEVEL, value=bytes([battery]), notify=True)

    def measure(self) -> bytes:
        """Take the next sample of simulated time and return its 0x2A37 bytes."""
        t = self.sample_index * self.interval_s
        bpm, rr = self.source.sample(t)
        self.sample_index += 1
        self.emitted.append((self.sample_index, bpm))
        return encode_heart_rate(bpm, sensor_contact=True, rr_intervals=rr)

    def tick(self) -> bool:
        """Measure and notify once if a central is listening; True if it was delivered."""
        if not self.subscribed(HEART_RATE_MEASUREMENT):
            return False
        return self.notify(HEART_RATE_MEASUREMENT, self.measure())

    async def run(self, *, real_interval_s: float | None = None) -> None:
        """Stream in real time: one notification every ``real_interval_s`` (default: interval)."""
        period = self.interval_s if real_interval_s is None else real_interval_s
        while True:
            self.tick()
            await asyncio.sleep(period)
