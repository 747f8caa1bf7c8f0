"""Simulated devices, one per kind VitalGate reads (``DEVICES``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Final

from firmware_sim.devices.base import DEFAULT_START
from firmware_sim.devices.bp_cuff import BloodPressureCuff
from firmware_sim.devices.cgm import ContinuousGlucoseMonitor
from firmware_sim.devices.glucose_meter import GlucoseMeter
from firmware_sim.devices.hr_strap import HeartRateStrap
from firmware_sim.devices.oximeter import PulseOximeter
from firmware_sim.devices.scale import Scale
from firmware_sim.devices.thermometer import Thermometer
from firmware_sim.peripheral import SimPeripheral
from firmware_sim.radio import SimRadio
from firmware_sim.scenario import STABLE, Scenario
from gateway.ble.profiles import DeviceKind

DEVICES: Final[dict[DeviceKind, Callable[..., SimPeripheral]]] = {
    DeviceKind.HR_STRAP: HeartRateStrap,
    DeviceKind.BP_CUFF: BloodPressureCuff,
    DeviceKind.PULSE_OXIMETER: PulseOximeter,
    DeviceKind.THERMOMETER: Thermometer,
    DeviceKind.SCALE: Scale,
    DeviceKind.GLUCOSE_METER: GlucoseMeter,
    DeviceKind.CGM: ContinuousGlucoseMonitor,
}
"""Device kind → simulator class; each takes ``(address, *, seed, scenario=…, …)``."""


def household(
    radio: SimRadio,
    *,
    seed: int,
    scenario: Scenario = STABLE,
    start: datetime = DEFAULT_START,
    kinds: Iterable[DeviceKind] = tuple(DeviceKind),
) -> dict[DeviceKind, SimPeripheral]:
    """One device of each kind for one patient, in range of ``radio``.

    Addresses are ``0A:<seed>:00:00:00:<n>`` (hex) and stable, so a demo or a test can pair them.
    """
    devices: dict[DeviceKind, SimPeripheral] = {}
    for n, kind in enumerate(kinds):
        address = f"0A:{seed % 256:02X}:00:00:00:{n + 1:02X}"
        devices[kind] = radio.add(DEVICES[kind](address, seed=seed, scenario=scenario, start=start))
    return devices


__all__ = [
    "DEVICES",
    "BloodPressureCuff",
    "ContinuousGlucoseMonitor",
    "GlucoseMeter",
    "HeartRateStrap",
    "PulseOximeter",
    "Scale",
    "Thermometer",
    "household",
]
