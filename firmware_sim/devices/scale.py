"""A bathroom scale with body composition: Weight Scale (0x181D) and Body Composition
(0x181B) services.

When the patient steps on, it stores a Weight Measurement (0.005 kg or 0.01 lb, with BMI
and height for the configured user) and a Body Composition Measurement, indicates both
once a central has subscribed to both, then disconnects.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from firmware_sim.devices.base import SpotDevice
from firmware_sim.encoders import (
    encode_body_composition,
    encode_weight,
    encode_weight_scale_feature,
)
from firmware_sim.encoders.numbers import u32
from gateway.ble.profiles import (
    BodyCompositionMeasurement,
    DeviceKind,
    WeightMeasurement,
    WeightScaleFeature,
)
from gateway.ble.profiles.weight import LB_TO_KG
from gateway.wire import Metric

WEIGHT_SCALE_SERVICE: Final = 0x181D
BODY_COMPOSITION_SERVICE: Final = 0x181B
WEIGHT_MEASUREMENT: Final = 0x2A9D
WEIGHT_SCALE_FEATURE: Final = 0x2A9E
BODY_COMPOSITION_MEASUREMENT: Final = 0x2A9C
BODY_COMPOSITION_FEATURE: Final = 0x2A9B
BODY_COMPOSITION_FEATURE_BITS: Final = (
    (1 << 0) | (1 << 1) | (1 << 8) | (1 << 9) | (1 << 10) | (7 << 11) | (3 << 15)
)
"""BCS 1.0 §3.1: time stamp, multiple users, impedance, weight, height supported; mass
resolution 0.005 kg (7), height resolution 0.001 m (3)."""
INCH_M: Final = 0.0254


class Scale(SpotDevice):
    kind = DeviceKind.SCALE
    services = (WEIGHT_SCALE_SERVICE, BODY_COMPOSITION_SERVICE)
    model_number = "VG-SC1"
    upload_chars = (WEIGHT_MEASUREMENT, BODY_COMPOSITION_MEASUREMENT)

    def __init__(
        self, address: str, *, user_id: int | None = 1, imperial: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(address, **kwargs)
        self.user_id = user_id
        self.imperial = imperial
        self.add_characteristic(WEIGHT_MEASUREMENT, indicate=True, readable=False)
        self.add_characteristic(BODY_COMPOSITION_MEASUREMENT, indicate=True, readable=False)
        feature = WeightScaleFeature(True, True, True, 0.005, 0.001)
        self.add_characteristic(WEIGHT_SCALE_FEATURE, value=encode_weight_scale_feature(feature))
        self.add_characteristic(BODY_COMPOSITION_FEATURE, value=u32(BODY_COMPOSITION_FEATURE_BITS))

    def _mass(self, kg: float) -> float:
        """As the scale displays it: 0.01 lb or 0.005 kg steps."""
        return round(kg / LB_TO_KG * 100) / 100 if self.imperial else round(kg * 200) / 200

    def _height(self, metres: float) -> float:
        return round(metres / INCH_M * 10) / 10 if self.imperial else round(metres * 1000) / 1000

    def measure(
        self, at: datetime | None = None
    ) -> tuple[WeightMeasurement, BodyCompositionMeasurement]:
        """The patient steps on now (or at ``at``); both values are indicated when possible."""
        if at is not None:
            self.set_time(at)
        kg = self.patient.sample(Metric.BODY_WEIGHT, self.now)
        metres = self.patient.mean(Metric.BODY_HEIGHT, self.now) / 100
        stamp = self.device_stamp()
        weight = WeightMeasurement(
            self._mass(kg),
            self.imperial,
            stamp,
            self.user_id,
            bmi=round(kg / metres**2 * 10) / 10,
            height=self._height(metres),
        )
        fat = round(self.patient.sample(Metric.BODY_FAT, self.now) * 10) / 10
        composition = BodyCompositionMeasurement(
            fat,
            self.imperial,
            stamp,
            self.user_id,
            impedance_ohm=round(4000 + fat * 40) / 10,
            weight=self._mass(kg),
            height=self._height(metres),
        )
        self.store(
            [
                (WEIGHT_MEASUREMENT, encode_weight(weight)),
                (BODY_COMPOSITION_MEASUREMENT, encode_body_composition(composition)),
            ]
        )
        return weight, composition
