"""A chest-strap heart-rate monitor: Heart Rate Service (0x180D), streams 0x2A37 once a second
while a central is subscribed, as real straps do.

Given a scenario, the strap follows that patient's heart rate and the scenario's faults:
lost skin contact (contact bit cleared), a low battery, duplicate notifications.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from firmware_sim.devices.base import DEFAULT_START
from firmware_sim.encoders import encode_battery_level, encode_heart_rate
from firmware_sim.peripheral import SimPeripheral
from firmware_sim.physiology import HeartRateModel, HeartRateSource
from firmware_sim.scenario import FaultKind, Scenario
from gateway.ble.profiles import BatteryLevel, DeviceKind
from gateway.ble.uuids import normalize_uuid

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

    kind = DeviceKind.HR_STRAP

    def __init__(
        self,
        address: str,
        *,
        seed: int,
        model: HeartRateModel | None = None,
        interval_s: float = 1.0,
        name: str = "VG-HRM",
        battery: int = 87,
        scenario: Scenario | None = None,
        start: datetime = DEFAULT_START,
    ) -> None:
        super().__init__(address, name=name, service_uuids=(HEART_RATE_SERVICE, BATTERY_SERVICE))
        if model is None and scenario is not None:
            model = scenario.patient(seed, start).heart_rate_model()
        self.source = HeartRateSource(model or HeartRateModel(), seed=seed)
        self.scenario = scenario
        self.interval_s = interval_s
        self.sample_index = 0
        self.battery = battery
        self.emitted: list[tuple[int, int]] = []
        self.add_characteristic(HEART_RATE_MEASUREMENT, notify=True, readable=False)
        self.add_characteristic(BODY_SENSOR_LOCATION, value=bytes([CHEST]))
        self.add_characteristic(BATTERY_LEVEL, value=bytes([battery]), notify=True)

    def _fault(self, kind: FaultKind) -> bool:
        if self.scenario is None:
            return False
        hours = self.sample_index * self.interval_s / 3600
        return any(f.kind is kind for f in self.scenario.faults_at(self.kind, hours))

    def battery_level(self) -> int:
        if self.scenario is not None:
            hours = self.sample_index * self.interval_s / 3600
            for fault in self.scenario.faults_at(self.kind, hours):
                if fault.kind is FaultKind.LOW_BATTERY:
                    return int(fault.value)
        return self.battery

    def measure(self) -> bytes:
        """Take the next sample of simulated time and return its 0x2A37 bytes."""
        t = self.sample_index * self.interval_s
        contact = not self._fault(FaultKind.SENSOR_CONTACT_LOST)
        bpm, rr = self.source.sample(t)
        self.sample_index += 1
        self.emitted.append((self.sample_index, bpm))
        return encode_heart_rate(bpm, sensor_contact=contact, rr_intervals=rr if contact else ())

    def tick(self) -> bool:
        """Measure and notify once if a central is listening; True if it was delivered."""
        level = self.battery_level()
        if bytes([level]) != self.chars[normalize_uuid(BATTERY_LEVEL)].value:
            self.notify(BATTERY_LEVEL, encode_battery_level(BatteryLevel(level)))
        if not self.subscribed(HEART_RATE_MEASUREMENT):
            return False
        data = self.measure()
        delivered = self.notify(HEART_RATE_MEASUREMENT, data)
        if delivered and self._fault(FaultKind.DUPLICATE_NOTIFICATIONS):
            self.notify(HEART_RATE_MEASUREMENT, data)
        return delivered

    async def run(self, *, real_interval_s: float | None = None) -> None:
        """Stream in real time: one notification every ``real_interval_s`` (default: interval)."""
        period = self.interval_s if real_interval_s is None else real_interval_s
        while True:
            self.tick()
            await asyncio.sleep(period)
