"""An upper-arm blood-pressure cuff: Blood Pressure Service (0x1810).

Like a real cuff it measures when the patient presses start, notifies Intermediate Cuff
Pressure (0x2A36) while inflating if a central is listening, stores the result, indicates
it on 0x2A35 once a central has subscribed, then disconnects. Measurements taken while
nobody is connected wait in memory for the next connection.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from firmware_sim.devices.base import SpotDevice
from firmware_sim.encoders import (
    encode_blood_pressure,
    encode_blood_pressure_feature,
    encode_intermediate_cuff_pressure,
)
from firmware_sim.scenario import FaultKind
from gateway.ble.profiles import (
    BloodPressureFeature,
    BloodPressureMeasurement,
    DeviceKind,
    IntermediateCuffPressure,
)
from gateway.ble.profiles.blood_pressure import KPA_TO_MMHG
from gateway.wire import Metric

BLOOD_PRESSURE_SERVICE: Final = 0x1810
BLOOD_PRESSURE_MEASUREMENT: Final = 0x2A35
INTERMEDIATE_CUFF_PRESSURE: Final = 0x2A36
BLOOD_PRESSURE_FEATURE: Final = 0x2A49
FEATURES: Final = (
    "body_movement_detection",
    "cuff_fit_detection",
    "irregular_pulse_detection",
    "pulse_rate_range_detection",
)


class BloodPressureCuff(SpotDevice):
    kind = DeviceKind.BP_CUFF
    services = (BLOOD_PRESSURE_SERVICE,)
    model_number = "VG-BP1"
    upload_chars = (BLOOD_PRESSURE_MEASUREMENT,)

    def __init__(
        self, address: str, *, user_id: int | None = 1, kpa: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(address, **kwargs)
        self.user_id = user_id
        self.kpa = kpa
        self.add_characteristic(BLOOD_PRESSURE_MEASUREMENT, indicate=True, readable=False)
        self.add_characteristic(INTERMEDIATE_CUFF_PRESSURE, notify=True, readable=False)
        self.add_characteristic(
            BLOOD_PRESSURE_FEATURE,
            value=encode_blood_pressure_feature(BloodPressureFeature(FEATURES)),
        )

    def _pressure(self, mmhg: float) -> float:
        return round(mmhg / KPA_TO_MMHG, 1) if self.kpa else float(round(mmhg))

    def _inflate(self, systolic: float) -> None:
        """Cuff pressure while inflating to 30 mm[Hg] above systolic, if anyone listens."""
        if not self.subscribed(INTERMEDIATE_CUFF_PRESSURE):
            return
        for mmhg in range(20, round(systolic) + 31, 40):
            value = IntermediateCuffPressure(self._pressure(mmhg), self.kpa, user_id=self.user_id)
            self.send(INTERMEDIATE_CUFF_PRESSURE, encode_intermediate_cuff_pressure(value))

    def measure(self, at: datetime | None = None) -> BloodPressureMeasurement:
        """The patient takes a reading now (or at ``at``); it is indicated when possible."""
        if at is not None:
            self.set_time(at)
        systolic = self.patient.sample(Metric.SYSTOLIC_BP, self.now)
        diastolic = min(self.patient.sample(Metric.DIASTOLIC_BP, self.now), systolic - 15)
        mean = diastolic + (systolic - diastolic) / 3
        error = self.fault(FaultKind.CUFF_ERROR)
        self._inflate(systolic)
        measurement = BloodPressureMeasurement(
            self._pressure(systolic),
            self._pressure(diastolic),
            self._pressure(mean),
            kpa=self.kpa,
            time_stamp=self.device_stamp(),
            pulse_rate=float(round(self.patient.sample(Metric.HEART_RATE, self.now))),
            user_id=self.user_id,
            status=(error.detail or "cuff_too_loose",) if error is not None else (),
        )
        self.store([(BLOOD_PRESSURE_MEASUREMENT, encode_blood_pressure(measurement))])
        return measurement
