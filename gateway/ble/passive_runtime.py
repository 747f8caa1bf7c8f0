"""Passive sensors in the running gateway: what a listening scanner hears becomes readings.

``PassiveReader`` sits between the link's listener (``ListeningLink.listen``) and the
measurement sink the connected devices use: it keeps a ``PassiveTracker`` over the paired
passive sensors (attribution, repeats, rotating addresses), hands each new measurement on
as a ``Measurement`` whose id is stable across repeats, and counts what it refuses. It
also picks the sensor a passive pairing window is waiting for (``passive_candidate``).
Loop thread only, no await.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import structlog

from gateway.ble.bind_keys import BindKeyError, BindKeys
from gateway.ble.link import Advertisement
from gateway.ble.measurement import Measurement, MeasurementSink
from gateway.ble.passive import KIND_METRICS, Observation, PassiveSensor, PassiveTracker
from gateway.ble.profiles import DeviceKind
from gateway.ble.profiles.advertising import decode_service_data
from gateway.ble.profiles.base import AdvertisementError, ProfileReading
from gateway.ble.state import DeviceState, StateStore
from gateway.wire import Metric

log = structlog.get_logger(__name__)

NO_SENSOR: Final = "matches no paired sensor"
"""The tracker's note for an advertisement from nobody we know (a neighbour's sensor)."""

FirstReading = Callable[[DeviceState, Measurement], None]


@dataclass(frozen=True, slots=True)
class PassiveMeasurement:
    """The readings one advertisement gave, as a ``Measurement``'s decoded value."""

    values: tuple[ProfileReading, ...]
    timestamp: datetime
    measurement_key: str
    """The same for every repeat of one measurement: the reading ids derive from it."""

    def readings(self) -> list[ProfileReading]:
        return list(self.values)


SAID: Final[dict[Metric, tuple[str, str]]] = {
    Metric.SYSTOLIC_BP: ("blood pressure", "mmHg"),
    Metric.HEART_RATE: ("heart rate", "beats a minute"),
    Metric.PULSE_RATE: ("pulse", "beats a minute"),
    Metric.SPO2: ("oxygen", "%"),
    Metric.BODY_TEMPERATURE: ("temperature", "°C"),
    Metric.BODY_WEIGHT: ("weight", "kg"),
    Metric.BODY_FAT: ("body fat", "%"),
    Metric.BLOOD_GLUCOSE: ("glucose", "mg/dL"),
}
"""How a person says a reading; metrics not listed (BMI, mean pressure…) are not said."""


def describe(readings: Iterable[ProfileReading]) -> str:
    """The readings in words, for a person: "blood pressure 128/82 mmHg · pulse 64 beats
    a minute", "weight 80.3 kg"."""
    values = {r.metric: r.value for r in readings}
    parts = []
    for metric, (name, unit) in SAID.items():
        if metric not in values:
            continue
        value = f"{values[metric]:g}"
        if metric is Metric.SYSTOLIC_BP and Metric.DIASTOLIC_BP in values:
            value += f"/{values[Metric.DIASTOLIC_BP]:g}"
        parts.append(f"{name} {value} {unit}")
    return " · ".join(parts)[:120]


def passive_candidate(
    kind: DeviceKind, bind_key: bytes | None, ad: Advertisement, *, taken: Iterable[str]
) -> bool:
    """Whether ``ad`` is the passive sensor a pairing window waits for: not paired already,
    readable (with ``bind_key`` when given: only the sensor that key opens) and measuring
    something a ``kind`` device measures."""
    if ad.address.upper() in {a.upper() for a in taken}:
        return False
    wanted = KIND_METRICS.get(kind, frozenset())
    for uuid, data in ad.service_data.items():
        try:
            value = decode_service_data(uuid, data, address=ad.address, bind_key=bind_key)
        except AdvertisementError:
            continue
        if bind_key is not None and not getattr(value, "encrypted", False):
            continue  # a key was given: a plain packet is not the sensor on the box
        if any(r.metric in wanted for r in value.readings()):
            return True
    return False


class PassiveReader:
    """Turns advertisements of paired passive sensors into measurements for ``sink``."""

    def __init__(
        self,
        store: StateStore,
        keys: BindKeys,
        *,
        sink: MeasurementSink,
        clock_fn: Callable[[], datetime],
        on_first_reading: FirstReading | None = None,
    ) -> None:
        self.store = store
        self.keys = keys
        self.sink = sink
        self.now = clock_fn
        self.on_first_reading = on_first_reading
        self.ignored = 0
        """Advertisements from no paired sensor (neighbours' sensors): not kept."""
        self.refused = 0
        """Advertisements that looked like ours but no paired key opens: not kept."""
        self._sensors: tuple[PassiveSensor, ...] = ()
        self.tracker = PassiveTracker(())
        self.rebuild()

    @property
    def active(self) -> bool:
        """Any passive sensor paired (the link need listen only then)."""
        return bool(self._sensors)

    def rebuild(self) -> None:
        """Follow the passive devices of the state store (after pairing or unpairing)."""
        try:
            keys = self.keys.load()
        except BindKeyError as exc:
            # Encrypting sensors go unread (and counted as refused) until it is fixed; the
            # plain ones and every connected device carry on.
            log.error(
                "ble.bind_keys_unreadable",
                reason=str(exc),
                advice="restore the file from a backup, or unpair and pair the sensors again",
            )
            keys = {}
        sensors = tuple(
            PassiveSensor(
                device_id=d.device_id,
                patient_id=d.patients[0].patient_id,
                kind=DeviceKind(d.kind),
                address=d.address,
                bind_key=keys.get(d.device_id),
            )
            for d in self.store.devices.values()
            if d.passive and d.patients
        )
        if sensors != self._sensors:  # unchanged: keep what the tracker learned
            self._sensors = sensors
            self.tracker = PassiveTracker(sensors)

    def heard(self, ad: Advertisement) -> list[Measurement]:
        """The new measurements in ``ad`` (already handed to the sink)."""
        if not ad.service_data or not self._sensors:
            return []
        now = self.now()
        out = []
        observations = self.tracker.observe(ad.address, ad.service_data, now=now)
        for uuid, seen in zip(ad.service_data, observations, strict=True):
            m = self._take(uuid, seen, ad, now)
            if m is not None:
                out.append(m)
        return out

    def _take(
        self, uuid: str, seen: Observation, ad: Advertisement, now: datetime
    ) -> Measurement | None:
        device = self.store.get(seen.device_id) if seen.device_id else None
        if device is None:
            self._unread(seen, ad)
            return None
        device.last_seen = now
        if ad.rssi is not None:
            device.rssi = ad.rssi
        self.store.touch()
        if seen.duplicate:
            self.store.count(device.device_id, "duplicate")
            return None
        if not seen.readings:
            return None
        first = seen.readings[0]
        value = PassiveMeasurement(
            tuple(r.reading for r in seen.readings), first.ts, first.measurement_key
        )
        m = Measurement(device.device_id, first.patient_id, uuid, value, now)
        for r in value.values:
            if r.metric is Metric.BATTERY_LEVEL:
                device.battery = max(0, min(100, round(r.value)))
        said = describe(value.values)
        if said:
            device.last_reading = said
            device.last_reading_at = now
        self.sink(m)
        if device.first_reading_at is None and said:
            device.first_reading_at = now
            if self.on_first_reading is not None:
                self.on_first_reading(device, m)
        return m

    def _unread(self, seen: Observation, ad: Advertisement) -> None:
        """Count an advertisement nobody's key opens; a stranger's is only ignored."""
        if any(NO_SENSOR in note for note in seen.notes):
            self.ignored += 1
            return
        self.refused += 1
        for sensor in self._sensors:
            if self.tracker.address_of(sensor.device_id) == ad.address.upper():
                self.store.count(sensor.device_id, "undecryptable")
        log.info("ble.passive_refused", address=ad.address, refused=self.refused)
