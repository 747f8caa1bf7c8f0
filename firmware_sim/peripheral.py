"""A simulated BLE peripheral: advertising data plus a GATT table that emits real bytes.

Device simulators (``firmware_sim.devices``) subclass ``SimPeripheral``, fill the GATT table
with ``add_characteristic`` and push values with ``notify``. Like a real device, a value
notified while nobody is connected and subscribed is not delivered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.ble.link import Advertisement, NotifyCallback
from gateway.ble.uuids import normalize_uuid

WriteHandler = Callable[[bytes], None]
ReadHandler = Callable[[], bytes]


@dataclass
class SimCharacteristic:
    uuid: str
    value: bytes = b""
    readable: bool = True
    notify: bool = False
    indicate: bool = False
    on_write: WriteHandler | None = None
    on_read: ReadHandler | None = None
    """Computes the value at read time (a clock); ``value`` is used when None."""
    subscribers: list[NotifyCallback] = field(default_factory=list)


class SimPeripheral:
    """Base of every simulated device."""

    def __init__(
        self,
        address: str,
        *,
        name: str | None,
        service_uuids: tuple[int | str, ...],
        rssi: int = -60,
        manufacturer_data: dict[int, bytes] | None = None,
        service_data: dict[str, bytes] | None = None,
    ) -> None:
        self.address = address
        self.name = name
        self.service_uuids = tuple(normalize_uuid(u) for u in service_uuids)
        self.rssi = rssi
        self.manufacturer_data = dict(manufacturer_data or {})
        self.service_data = {normalize_uuid(u): d for u, d in (service_data or {}).items()}
        """Service data in the advertisement (a passive sensor's readings)."""
        self.advertising = True
        self.connected = False
        self.chars: dict[str, SimCharacteristic] = {}
        self.notifications_sent = 0
        self.bondable = True
        """Accepts pairing (LE Secure Connections where the central supports it)."""
        self.bonded = False
        self._on_disconnect: list[Callable[[], None]] = []
        self.radio: Any = None
        """The ``SimRadio`` it was added to (``air`` sends an advertisement there)."""

    def advertisement(self) -> Advertisement:
        return Advertisement(
            self.address,
            self.name,
            self.rssi,
            self.service_uuids,
            dict(self.manufacturer_data),
            dict(self.service_data),
        )

    def add_characteristic(self, uuid: int | str, **kwargs: object) -> SimCharacteristic:
        char = SimCharacteristic(uuid=normalize_uuid(uuid), **kwargs)  # type: ignore[arg-type]
        self.chars[char.uuid] = char
        return char

    def subscribed(self, uuid: int | str) -> bool:
        char = self.chars.get(normalize_uuid(uuid))
        return bool(self.connected and char and char.subscribers)

    def notify(self, uuid: int | str, data: bytes) -> bool:
        """Send a notification/indication; False when nobody connected was listening."""
        char = self.chars[normalize_uuid(uuid)]
        char.value = bytes(data)
        if not (self.connected and char.subscribers):
            return False
        for callback in list(char.subscribers):
            callback(char.uuid, bytes(data))
        self.notifications_sent += 1
        return True

    # Hooks the radio calls -------------------------------------------------------------
    def on_connect(self) -> None:
        """Called when a central connects; subclasses may start streaming."""

    def on_subscribe(self, uuid: str) -> None:
        """Called when a central subscribes to a characteristic (a cuff then sends stored data)."""

    def on_disconnect(self) -> None:
        """Called when the link drops; subscriptions end as on a real device."""

    def attach(self, on_disconnect: Callable[[], None] | None) -> None:
        self.connected = True
        if on_disconnect is not None:
            self._on_disconnect.append(on_disconnect)
        self.on_connect()

    def detach(self) -> None:
        """Drop the link (device switched off, out of range or the central disconnected)."""
        if not self.connected:
            return
        self.connected = False
        for char in self.chars.values():
            char.subscribers.clear()
        callbacks, self._on_disconnect = self._on_disconnect, []
        self.on_disconnect()
        for callback in callbacks:
            callback()
