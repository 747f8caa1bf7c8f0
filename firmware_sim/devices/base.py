"""What every simulated health device shares: a patient, a true clock and a device clock,
Battery and Device Information services, faults from the scenario, and store-and-upload
of spot measurements.

Time is simulated: the harness moves ``now`` (``advance`` / ``set_time``); nothing sleeps.
A device stamps measurements with its own clock, ``now`` plus an offset, which a clock
fault sets and a gateway write to Current Time (0x2A2B) corrects.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Final

from firmware_sim.encoders import (
    encode_battery_level,
    encode_current_time_value,
    encode_device_string,
)
from firmware_sim.peripheral import SimPeripheral
from firmware_sim.physiology import PatientModel
from firmware_sim.scenario import STABLE, Fault, FaultKind, Scenario
from gateway.ble.profiles import (
    BatteryLevel,
    DateTime,
    DeviceKind,
    DeviceString,
    ProfileError,
    current_time_of,
)
from gateway.ble.profiles.device import decode_current_time
from gateway.ble.uuids import normalize_uuid

BATTERY_SERVICE: Final = 0x180F
BATTERY_LEVEL: Final = 0x2A19
DEVICE_INFORMATION: Final = 0x180A
CURRENT_TIME_SERVICE: Final = 0x1805
CURRENT_TIME: Final = 0x2A2B
DEFAULT_START: Final = datetime(2026, 1, 5, 7, 0, tzinfo=UTC)
"""A Monday morning: where simulated time begins unless the harness says otherwise."""

_DIS: Final = {
    0x2A29: "Manufacturer Name String (0x2A29)",
    0x2A24: "Model Number String (0x2A24)",
    0x2A25: "Serial Number String (0x2A25)",
    0x2A26: "Firmware Revision String (0x2A26)",
}


class HealthDevice(SimPeripheral):
    """Base of the simulated health devices (not the legacy heart-rate strap's signature)."""

    kind: ClassVar[DeviceKind]
    services: ClassVar[tuple[int, ...]]
    """The primary services it advertises (Battery, Device Information and Current Time are
    in the GATT table but, as on real devices, not in the advertisement)."""
    model_number: ClassVar[str] = "VG-SIM"
    has_clock: ClassVar[bool] = True

    def __init__(
        self,
        address: str,
        *,
        seed: int,
        scenario: Scenario = STABLE,
        start: datetime = DEFAULT_START,
        name: str | None = None,
        battery: int = 90,
        clock_offset_h: float = 0.0,
    ) -> None:
        super().__init__(address, name=name or self.model_number, service_uuids=self.services)
        self.scenario = scenario
        self.patient: PatientModel = scenario.patient(seed, start)
        self.start = start
        self.now = start
        self.battery = battery
        self.clock_offset = timedelta(hours=clock_offset_h)
        self.clock_set = False
        """True once a gateway has written Current Time: clock faults no longer apply."""
        self._add_common_characteristics(seed)

    def _add_common_characteristics(self, seed: int) -> None:
        self.add_characteristic(
            BATTERY_LEVEL,
            notify=True,
            on_read=lambda: encode_battery_level(BatteryLevel(self.battery_level())),
        )
        serial = f"SIM{seed:08d}"
        texts = ("VitalGate Sim", self.model_number, serial, "1.0.0")
        for (uuid, name), text in zip(_DIS.items(), texts, strict=True):
            self.add_characteristic(uuid, value=encode_device_string(DeviceString(name, text)))
        if self.has_clock:
            self.add_characteristic(
                CURRENT_TIME,
                notify=True,
                on_read=lambda: encode_current_time_value(current_time_of(self.device_now())),
                on_write=self._set_clock,
            )

    # --- time ------------------------------------------------------------------------------
    @property
    def hours(self) -> float:
        """Hours since the start of the scenario."""
        return self.patient.hours(self.now)

    def set_time(self, now: datetime) -> None:
        self.now = now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def faults(self) -> tuple[Fault, ...]:
        return self.scenario.faults_at(self.kind, self.hours)

    def fault(self, kind: FaultKind) -> Fault | None:
        return next((f for f in self.faults() if f.kind is kind), None)

    def device_now(self) -> datetime:
        """What the device's own clock shows (true time plus its offset, in UTC)."""
        offset = self.clock_offset
        drift = self.fault(FaultKind.CLOCK_OFFSET)
        if drift is not None and not self.clock_set:
            offset += timedelta(hours=drift.value)
        return self.now + offset

    def device_stamp(self) -> DateTime:
        return DateTime.of(self.device_now())

    def _set_clock(self, data: bytes) -> None:
        """A gateway writes Current Time: from now on the device clock shows that time."""
        try:
            written = decode_current_time(data).timestamp
        except ProfileError:
            return  # a real device answers with an ATT error and keeps its clock
        if written is not None:
            self.clock_offset = written - self.now
            self.clock_set = True

    # --- battery ---------------------------------------------------------------------------
    def battery_level(self) -> int:
        low = self.fault(FaultKind.LOW_BATTERY)
        return int(low.value) if low is not None else self.battery

    def publish_battery(self) -> bool:
        """Notify the battery level (devices do so when it changes)."""
        return self.send(BATTERY_LEVEL, encode_battery_level(BatteryLevel(self.battery_level())))

    # --- sending ---------------------------------------------------------------------------
    def send(self, uuid: int | str, data: bytes) -> bool:
        """Notify or indicate, twice under a duplicate-notification fault."""
        delivered = self.notify(uuid, data)
        if delivered and self.fault(FaultKind.DUPLICATE_NOTIFICATIONS) is not None:
            self.notify(uuid, data)
        return delivered


class SpotDevice(HealthDevice):
    """A device that takes one measurement when the patient uses it, stores it, and sends
    stored measurements once a central has subscribed to every ``upload_chars``.

    Like real cuffs, scales and thermometers, it disconnects after uploading when
    ``disconnect_after_upload`` is set.
    """

    upload_chars: ClassVar[tuple[int, ...]]
    disconnect_after_upload: ClassVar[bool] = True

    def __init__(self, address: str, **kwargs: Any) -> None:
        super().__init__(address, **kwargs)
        self.stored: list[list[tuple[str, bytes]]] = []
        """Measurements not yet delivered, each a list of (characteristic, value)."""
        self.uploaded: list[list[tuple[str, bytes]]] = []

    def store(self, parts: Sequence[tuple[int, bytes]]) -> None:
        """Keep a measurement and send it now if a central is already listening."""
        self.stored.append([(normalize_uuid(uuid), data) for uuid, data in parts])
        self.upload()

    def ready(self) -> bool:
        return all(self.subscribed(uuid) for uuid in self.upload_chars)

    def upload(self) -> int:
        """Send stored measurements in order; the number delivered."""
        if not self.stored or not self.ready():
            return 0
        sent = 0
        while self.stored and self.ready():
            measurement = self.stored.pop(0)
            for uuid, data in measurement:
                self.send(uuid, data)
            self.uploaded.append(measurement)
            sent += 1
        if self.disconnect_after_upload:
            self.detach()
        return sent

    def on_subscribe(self, uuid: str) -> None:
        self.upload()
