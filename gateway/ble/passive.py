"""Passive sensors, one layer above the advertisement decoders: which paired sensor (and so
which patient) an advertisement comes from, which advertisements are repeats of one
measurement, and how to keep following a sensor whose address rotates.

Pure and stateful: no I/O, no clock (every call takes ``now``). Attribution, in order:
the address the sensor was last seen at; the MAC a BTHome sensor puts in its packet; the
sensor's Identity Resolving Key for a resolvable private address (Core Vol 3 Part H
§2.2.2); and for an encrypted BTHome packet the bind key that opens it (only the right
key passes the MIC). A sensor found by any of these is followed at its new address.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from gateway.ble.profiles import DeviceKind
from gateway.ble.profiles.advertising import decode_service_data
from gateway.ble.profiles.base import AdvertisementError, ProfileReading
from gateway.ble.profiles.bthome import UUID16 as BTHOME_UUID16
from gateway.ble.profiles.bthome import BTHomeAdvertisement, address_bytes
from gateway.ble.uuids import short_uuid
from gateway.wire import Metric

M = Metric

DEDUP_WINDOW: Final = timedelta(seconds=60)
"""A sensor repeats one measurement's advertisement for several seconds (a scale shows the
weight about 10 s); the same content within this window is the same measurement."""

KIND_METRICS: Final[dict[DeviceKind | None, frozenset[Metric]]] = {
    DeviceKind.THERMOMETER: frozenset({M.BODY_TEMPERATURE}),
    DeviceKind.SCALE: frozenset({M.BODY_WEIGHT, M.BMI, M.BODY_HEIGHT, M.BODY_FAT}),
    DeviceKind.HR_STRAP: frozenset({M.HEART_RATE}),
    DeviceKind.BP_CUFF: frozenset(
        {M.SYSTOLIC_BP, M.DIASTOLIC_BP, M.MEAN_ARTERIAL_PRESSURE, M.PULSE_RATE}
    ),
    DeviceKind.PULSE_OXIMETER: frozenset({M.SPO2, M.PULSE_RATE}),
    DeviceKind.GLUCOSE_METER: frozenset({M.BLOOD_GLUCOSE}),
    None: frozenset(),
}
"""What each kind of paired sensor measures on the patient; battery is always kept. A room
sensor's temperature must never become a body temperature."""


@dataclass(frozen=True, slots=True)
class PassiveSensor:
    """A paired advertising sensor."""

    device_id: str
    patient_id: str
    kind: DeviceKind | None
    address: str
    """Its identity address at pairing (the one a BTHome sensor puts in its packet)."""
    bind_key: bytes | None = None
    """BTHome bind key (16 bytes) when the sensor encrypts."""
    irk: bytes | None = None
    """Identity Resolving Key (16 bytes, most significant first) for a rotating address."""


@dataclass(frozen=True, slots=True)
class PassiveReading:
    device_id: str
    patient_id: str
    reading: ProfileReading
    ts: datetime
    measurement_key: str
    """Identical for every repeat of one measurement: the base of a stable reading id."""


@dataclass(frozen=True, slots=True)
class Observation:
    """What one advertisement gave: readings (none for a repeat) and why anything was left."""

    device_id: str | None = None
    readings: tuple[PassiveReading, ...] = ()
    duplicate: bool = False
    notes: tuple[str, ...] = ()


def resolves(irk: bytes, address: str) -> bool:
    """Whether ``address`` is a resolvable private address generated from ``irk``:
    hash == ah(irk, prand) = e(irk, 0…0 | prand) mod 2²⁴ (Core Vol 3 Part H §2.2.2)."""
    try:
        raw = address_bytes(address)
    except AdvertisementError:  # not a MAC (a platform that hides addresses behind UUIDs)
        return False
    if raw[0] >> 6 != 0b01 or len(irk) != 16:
        return False
    # ah() is one AES block under the IRK: exactly what the specification defines, not
    # a choice of cipher mode for bulk data.
    block = Cipher(algorithms.AES(irk), modes.ECB()).encryptor()  # noqa: S305
    digest = block.update(bytes(13) + raw[:3]) + block.finalize()
    return digest[-3:] == raw[3:]


def _bthome_info(data: bytes) -> tuple[bool, str | None]:
    """(encrypted, identity MAC in the packet or None) from the first bytes, unchecked."""
    if not data:
        return False, None
    mac = data[1:7][::-1] if data[0] & 0x02 and len(data) >= 7 else None
    return bool(data[0] & 0x01), None if mac is None else ":".join(f"{b:02X}" for b in mac)


@dataclass
class _State:
    address: str
    seen: dict[str, datetime] = field(default_factory=dict)
    """Content digest of a measurement → when it was first seen."""
    last_counter: int | None = None


class PassiveTracker:
    """Attributes, de-duplicates and converts advertisements of paired passive sensors."""

    def __init__(self, sensors: Iterable[PassiveSensor], *, window: timedelta = DEDUP_WINDOW):
        self._sensors = {s.device_id: s for s in sensors}
        self._state = {s.device_id: _State(s.address.upper()) for s in self._sensors.values()}
        self._window = window

    def address_of(self, device_id: str) -> str:
        """The address a sensor was last seen at."""
        return self._state[device_id].address

    def observe(
        self,
        address: str,
        service_data: Mapping[int, bytes] | Mapping[str, bytes],
        *,
        now: datetime,
    ) -> list[Observation]:
        """One observation per service-data entry of an advertisement heard from ``address``."""
        return [
            self._entry(address.upper(), uuid, bytes(d), now) for uuid, d in service_data.items()
        ]

    def _entry(self, address: str, uuid: int | str, data: bytes, now: datetime) -> Observation:
        try:
            uuid16 = short_uuid(uuid)
        except ValueError:
            uuid16 = None
        sensor, value, notes = self._attribute(address, uuid, uuid16, data)
        if sensor is None or value is None:
            return Observation(notes=tuple(notes))
        device = sensor.device_id
        state = self._state[device]
        state.address = address
        for old in [k for k, t in state.seen.items() if now - t > self._window]:
            del state.seen[old]
        content = self._content(state, value, (uuid16, data), notes)
        if content is None:
            return Observation(device, duplicate=True, notes=tuple(notes))
        digest = hashlib.sha256(content.encode()).hexdigest()[:16]
        if digest in state.seen:
            return Observation(device, duplicate=True, notes=tuple(notes))
        state.seen[digest] = now
        key = f"{device}/{now.strftime('%Y%m%dT%H%M%S.%f')}/{digest}"
        ts = getattr(value, "timestamp", None) or now
        readings = self._readings(sensor, value.readings(), ts, key, notes)
        return Observation(device, readings, notes=tuple(notes))

    @staticmethod
    def _content(
        state: _State, value: Any, raw: tuple[int | None, bytes], notes: list[str]
    ) -> str | None:
        """What identifies the measurement (its repeats share it); None for a replay."""
        if not isinstance(value, BTHomeAdvertisement):
            return repr(raw)  # a SIG value: the characteristic's bytes (incl. any time stamp)
        notes += [f"{name} not read: {why}" for name, why in value.ignored]
        notes += [f"stopped early: {value.stopped}"] if value.stopped else []
        notes += ["object ids out of order"] if value.out_of_order else []
        if value.counter is not None:
            last = state.last_counter
            if last is not None and value.counter < last:
                notes.append(f"counter {value.counter} below {last}: replayed or old packet")
                return None
            if value.counter == last:  # the same packet again, however late it is heard
                return None
            state.last_counter = value.counter
        return repr((value.counter, value.packet_id, value.objects))

    @staticmethod
    def _readings(
        sensor: PassiveSensor,
        readings: list[ProfileReading],
        ts: datetime,
        key: str,
        notes: list[str],
    ) -> tuple[PassiveReading, ...]:
        allowed = KIND_METRICS.get(sensor.kind, frozenset()) | {M.BATTERY_LEVEL}
        out = []
        for reading in readings:
            if reading.metric not in allowed:
                notes.append(f"{reading.metric} not kept: a {sensor.kind or 'generic'} sensor")
                continue
            out.append(PassiveReading(sensor.device_id, sensor.patient_id, reading, ts, key))
        return tuple(out)

    def _candidates(self, address: str, identity: str | None) -> list[PassiveSensor]:
        return [
            s
            for s in self._sensors.values()
            if self._state[s.device_id].address == address
            or (identity is not None and s.address.upper() == identity)
            or (s.irk is not None and resolves(s.irk, address))
        ]

    def _attribute(
        self, address: str, uuid: int | str, uuid16: int | None, data: bytes
    ) -> tuple[PassiveSensor | None, Any, list[str]]:
        encrypted, identity = _bthome_info(data) if uuid16 == BTHOME_UUID16 else (False, None)
        candidates = self._candidates(address, identity)
        if encrypted:  # the key that opens it names the sensor, wherever it is now
            candidates += [
                s for s in self._sensors.values() if s.bind_key is not None and s not in candidates
            ]
        notes: list[str] = []
        for sensor in candidates:
            try:
                value = decode_service_data(uuid, data, address=address, bind_key=sensor.bind_key)
            except AdvertisementError as exc:
                notes.append(f"{sensor.device_id}: {exc}")
                continue
            return sensor, value, []
        if not candidates:
            notes.append(f"advertisement from {address} matches no paired sensor: ignored")
        return None, None, notes
