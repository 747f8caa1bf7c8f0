"""The BLE link seam: the only way the gateway talks to devices.

Two implementations plug in here: bleak with bleak-retry-connector (``gateway.ble.bleak_link``,
the only module that imports bleak) and firmware_sim's simulated radio
(``firmware_sim.radio.SimLink``). Everything above this protocol is the same code in
production, in tests and in the demo. UUIDs are passed in any form ``normalize_uuid`` takes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

NotifyCallback = Callable[[str, bytes], None]
"""Called with (characteristic UUID in normal form, value bytes) for each notification."""
AdvertisementCallback = Callable[["Advertisement"], None]
"""Called on the event loop with each advertisement a listening scanner hears."""


class BleError(Exception):
    """Root of BLE link errors; messages say what the person at home can do about it."""


class DeviceNotFoundError(BleError):
    """The device is not advertising (asleep, out of range, or switched off)."""


class ConnectionLostError(BleError):
    """The link dropped during an operation."""


class UnsupportedDeviceError(BleError):
    """The device advertises a health service but does not implement its measurements."""


@dataclass(frozen=True, slots=True)
class Advertisement:
    """What a device says about itself when it advertises."""

    address: str
    name: str | None
    rssi: int | None
    service_uuids: tuple[str, ...] = ()
    manufacturer_data: dict[int, bytes] = field(default_factory=dict)
    service_data: dict[str, bytes] = field(default_factory=dict)
    """Service UUID (normal form) → its data: where a passive sensor puts its readings."""


@runtime_checkable
class BleConnection(Protocol):
    """An open GATT connection to one device."""

    @property
    def address(self) -> str: ...

    @property
    def is_connected(self) -> bool: ...

    async def characteristics(self) -> frozenset[str]:
        """UUIDs (normal form) of every characteristic the device exposes."""
        ...

    async def read(self, char_uuid: str) -> bytes: ...

    async def write(self, char_uuid: str, data: bytes, *, response: bool = True) -> None: ...

    async def start_notify(self, char_uuid: str, callback: NotifyCallback) -> None:
        """Subscribe to notifications or indications, whichever the characteristic has."""
        ...

    async def stop_notify(self, char_uuid: str) -> None: ...

    async def disconnect(self) -> None: ...


@runtime_checkable
class BleLink(Protocol):
    """Scan for and connect to devices."""

    async def scan(
        self, *, timeout: float, service_uuids: Sequence[str] | None = None
    ) -> list[Advertisement]: ...

    async def connect(
        self,
        address: str,
        *,
        timeout: float,
        on_disconnect: Callable[[], None] | None = None,
    ) -> BleConnection: ...


@runtime_checkable
class ListeningLink(Protocol):
    """A link that can scan without pause and report each advertisement as it is heard
    (what passive sensors need: they never accept a connection). While it listens, the
    link's ``scan`` reports what this one scanner hears instead of starting a second one
    (BlueZ refuses a second discovery from the same client)."""

    async def listen(self, callback: AdvertisementCallback) -> None:
        """Report advertisements to ``callback`` until cancelled; ``BleError`` if the
        scanner cannot start."""
        ...


@runtime_checkable
class BondingLink(Protocol):
    """A link that can bond (pair) with a device: BlueZ negotiates LE Secure Connections
    when both sides support it, and falls back to legacy pairing otherwise."""

    async def pair(self, address: str, *, timeout: float) -> bool:
        """Bond with ``address``; True when bonded (or already was)."""
        ...


@runtime_checkable
class AdapterControl(Protocol):
    """A link whose radio can be switched off and on again (BlueZ ``Adapter1.Powered``)."""

    async def power_cycle(self, *, timeout: float) -> None: ...
