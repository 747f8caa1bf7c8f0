"""Per-kind behaviour as a table: which characteristics carry measurements, in what order
to subscribe, whether the device streams, stores records behind RACP, or is shared.

Adding a kind of device means adding a row here (and to ``profiles.registry``), not
branches in the session code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from gateway.ble.profiles import DeviceKind
from gateway.ble.uuids import normalize_uuid

BATTERY_LEVEL: Final = normalize_uuid(0x2A19)
CURRENT_TIME: Final = normalize_uuid(0x2A2B)
RACP: Final = normalize_uuid(0x2A52)
DEVICE_INFORMATION: Final = {
    normalize_uuid(0x2A29): "manufacturer",
    normalize_uuid(0x2A24): "model",
    normalize_uuid(0x2A25): "serial",
    normalize_uuid(0x2A26): "firmware",
}
"""Device Information strings read once, on the first connection, for the device list."""


@dataclass(frozen=True, slots=True)
class KindBehaviour:
    kind: DeviceKind
    label: str
    """What a patient calls it ("blood pressure cuff")."""
    measurements: tuple[str, ...]
    """Subscribed in this order, last: a spot device uploads once the last one is on."""
    streams: bool
    """Sends continuously while connected (a strap), rather than stored spot readings."""
    racp: bool = False
    """Stored records are requested over the Record Access Control Point (a glucose meter)."""
    shared: bool = False
    """Several people of a household may use it; readings carry a user id / user index."""
    unreachable_after: timedelta = timedelta(minutes=15)
    """Not heard from for this long (while expected): report the device unreachable."""
    silence: timedelta | None = None
    """A streaming device connected but silent this long has a stuck link (default: the
    runtime's ``stream_silence_s``)."""


def _uuids(*numbers: int) -> tuple[str, ...]:
    return tuple(normalize_uuid(n) for n in numbers)


BEHAVIOUR: Final[dict[DeviceKind, KindBehaviour]] = {
    b.kind: b
    for b in (
        KindBehaviour(DeviceKind.HR_STRAP, "heart rate strap", _uuids(0x2A37), streams=True),
        KindBehaviour(
            DeviceKind.BP_CUFF,
            "blood pressure cuff",
            _uuids(0x2A35),
            streams=False,
            shared=True,
            unreachable_after=timedelta(days=3),
        ),
        KindBehaviour(
            DeviceKind.PULSE_OXIMETER,
            "pulse oximeter",
            _uuids(0x2A5F, 0x2A5E),
            streams=True,
            unreachable_after=timedelta(days=3),
        ),
        KindBehaviour(
            DeviceKind.THERMOMETER,
            "thermometer",
            _uuids(0x2A1C),
            streams=False,
            unreachable_after=timedelta(days=7),
        ),
        KindBehaviour(
            DeviceKind.SCALE,
            "scale",
            _uuids(0x2A9D, 0x2A9C),
            streams=False,
            shared=True,
            unreachable_after=timedelta(days=3),
        ),
        KindBehaviour(
            DeviceKind.GLUCOSE_METER,
            "glucose meter",
            _uuids(0x2A18, 0x2A34),
            streams=False,
            racp=True,
            unreachable_after=timedelta(days=3),
        ),
        KindBehaviour(
            DeviceKind.CGM,
            "continuous glucose monitor",
            _uuids(0x2AA7),
            streams=True,
            racp=True,
            unreachable_after=timedelta(minutes=30),
            silence=timedelta(minutes=16),
        ),
    )
}


def behaviour(kind: DeviceKind | str) -> KindBehaviour:
    """The behaviour row of a kind (``"bp_cuff"`` or ``DeviceKind.BP_CUFF``); KeyError if unknown."""
    return BEHAVIOUR[DeviceKind(kind)]
