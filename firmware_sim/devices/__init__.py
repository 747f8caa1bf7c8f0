"""Simulated devices, one per kind VitalGate reads (``DEVICES``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from firmware_sim.devices.bp_cuff import BloodPressureCuff
from firmware_sim.devices.glucose_meter import GlucoseMeter
from firmware_sim.devices.hr_strap import HeartRateStrap
from firmware_sim.devices.oximeter import PulseOximeter
from firmware_sim.devices.scale import Scale
from firmware_sim.devices.thermometer import Thermometer
from firmware_sim.peripheral import SimPeripheral
from gateway.ble.profiles import DeviceKind

DEVICES: Final[dict[DeviceKind, Callable[..., SimPeripheral]]] = {
    DeviceKind.HR_STRAP: HeartRateStrap,
    DeviceKind.BP_CUFF: BloodPressureCuff,
    DeviceKind.PULSE_OXIMETER: PulseOximeter,
    DeviceKind.THERMOMETER: Thermometer,
    DeviceKind.SCALE: Scale,
    DeviceKind.GLUCOSE_METER: GlucoseMeter,
}
"""Device kind → simulator class; each takes ``(address, *, seed, scenario=…, …)``."""

__all__ = [
    "DEVICES",
    "BloodPressureCuff",
    "GlucoseMeter",
    "HeartRateStrap",
    "PulseOximeter",
    "Scale",
    "Thermometer",
]
