"""A clinical thermometer: Health Thermometer Service (0x1809).

Notifies Intermediate Temperature (0x2A1E) while the reading settles if a central is
listening, stores the final Temperature Measurement and indicates it on 0x2A1C once a
central has subscribed, then disconnects.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from firmware_sim.devices.base import SpotDevice
from firmware_sim.encoders import encode_temperature, encode_temperature_type
from gateway.ble.profiles import DeviceKind, TemperatureMeasurement, TemperatureTypeValue
from gateway.ble.profiles.temperature import TemperatureType
from gateway.wire import Metric

HEALTH_THERMOMETER_SERVICE: Final = 0x1809
TEMPERATURE_MEASUREMENT: Final = 0x2A1C
TEMPERATURE_TYPE: Final = 0x2A1D
INTERMEDIATE_TEMPERATURE: Final = 0x2A1E
SETTLING_C: Final = (-0.8, -0.4, -0.1)
"""How far below the final value the intermediate readings are while the probe warms."""


class Thermometer(SpotDevice):
    kind = DeviceKind.THERMOMETER
    services = (HEALTH_THERMOMETER_SERVICE,)
    model_number = "VG-TH1"
    upload_chars = (TEMPERATURE_MEASUREMENT,)

    def __init__(
        self,
        address: str,
        *,
        fahrenheit: bool = False,
        site: TemperatureType = TemperatureType.EAR,
        **kwargs: Any,
    ) -> None:
        super().__init__(address, **kwargs)
        self.fahrenheit = fahrenheit
        self.site = site
        self.add_characteristic(TEMPERATURE_MEASUREMENT, indicate=True, readable=False)
        self.add_characteristic(INTERMEDIATE_TEMPERATURE, notify=True, readable=False)
        self.add_characteristic(
            TEMPERATURE_TYPE, value=encode_temperature_type(TemperatureTypeValue(site))
        )

    def _display(self, celsius: float) -> float:
        return round(celsius * 9 / 5 + 32, 1) if self.fahrenheit else round(celsius, 1)

    def measure(self, at: datetime | None = None) -> TemperatureMeasurement:
        """Take a temperature now (or at ``at``); indicated when a central is subscribed."""
        if at is not None:
            self.set_time(at)
        celsius = self.patient.sample(Metric.BODY_TEMPERATURE, self.now)
        if self.subscribed(INTERMEDIATE_TEMPERATURE):
            for step in SETTLING_C:
                value = TemperatureMeasurement(
                    self._display(celsius + step), self.fahrenheit, intermediate=True
                )
                self.send(INTERMEDIATE_TEMPERATURE, encode_temperature(value))
        final = TemperatureMeasurement(
            self._display(celsius), self.fahrenheit, self.device_stamp(), self.site
        )
        self.store([(TEMPERATURE_MEASUREMENT, encode_temperature(final))])
        return final
