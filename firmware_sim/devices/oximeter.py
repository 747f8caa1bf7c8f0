"""A fingertip pulse oximeter: Pulse Oximeter Service (0x1822).

Spot checks are stored and indicated on 0x2A5E (with a time stamp) once a central has
subscribed; while a central is subscribed to 0x2A5F it streams a continuous measurement
every ``interval_s`` of simulated time. It stays connected, as oximeters do. With the probe
off the finger it reports no value and says why in its status words.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from firmware_sim.devices.base import SpotDevice
from firmware_sim.encoders import (
    encode_plx_continuous,
    encode_plx_features,
    encode_plx_spot_check,
)
from firmware_sim.scenario import FaultKind
from gateway.ble.profiles import DeviceKind, PlxContinuous, PlxFeatures, PlxSpotCheck, SpO2PR
from gateway.wire import Metric

PULSE_OXIMETER_SERVICE: Final = 0x1822
PLX_SPOT_CHECK: Final = 0x2A5E
PLX_CONTINUOUS: Final = 0x2A5F
PLX_FEATURES: Final = 0x2A60
FEATURES: Final = PlxFeatures(
    ("measurement_status", "device_and_sensor_status", "spot_check_time_stamp"),
    ("measurement_unavailable", "questionable_measurement"),
    ("low_perfusion", "sensor_unconnected_to_user"),
)


class PulseOximeter(SpotDevice):
    kind = DeviceKind.PULSE_OXIMETER
    services = (PULSE_OXIMETER_SERVICE,)
    model_number = "VG-OX1"
    upload_chars = (PLX_SPOT_CHECK,)
    disconnect_after_upload = False

    def __init__(self, address: str, *, interval_s: float = 1.0, **kwargs: Any) -> None:
        super().__init__(address, **kwargs)
        self.interval_s = interval_s
        self.add_characteristic(PLX_SPOT_CHECK, indicate=True, readable=False)
        self.add_characteristic(PLX_CONTINUOUS, notify=True, readable=False)
        self.add_characteristic(PLX_FEATURES, value=encode_plx_features(FEATURES))

    def _read(self) -> tuple[SpO2PR, tuple[str, ...], tuple[str, ...]]:
        """(SpO2 and pulse, measurement status, device and sensor status) at ``now``."""
        if self.fault(FaultKind.SENSOR_CONTACT_LOST) is not None:
            return SpO2PR(None, None), ("measurement_unavailable",), ("sensor_unconnected_to_user",)
        spo2 = float(round(self.patient.sample(Metric.SPO2, self.now)))
        pulse = float(round(self.patient.sample(Metric.HEART_RATE, self.now)))
        return SpO2PR(spo2, pulse), (), ()

    def spot_check(self) -> PlxSpotCheck:
        """A spot check at ``now``, stored and indicated when a central is subscribed."""
        pair, status, device = self._read()
        value = PlxSpotCheck(pair.spo2, pair.pulse_rate, self.device_stamp(), status, device)
        self.store([(PLX_SPOT_CHECK, encode_plx_spot_check(value))])
        return value

    def continuous(self) -> PlxContinuous:
        pair, status, device = self._read()
        return PlxContinuous(pair, measurement_status=status, device_sensor_status=device)

    def tick(self) -> bool:
        """Stream one continuous measurement if subscribed, then advance ``interval_s``."""
        delivered = False
        if self.subscribed(PLX_CONTINUOUS):
            delivered = self.send(PLX_CONTINUOUS, encode_plx_continuous(self.continuous()))
        self.advance(self.interval_s)
        return delivered

    async def run(self, *, real_interval_s: float | None = None) -> None:
        """Stream in real time: one tick every ``real_interval_s`` (default: interval)."""
        period = self.interval_s if real_interval_s is None else real_interval_s
        while True:
            self.tick()
            await asyncio.sleep(period)
