"""The simulated radio: a ``BleLink`` over ``SimPeripheral`` objects (the firmware_sim seam).

``SimRadio`` is the air: it holds the peripherals in range. ``SimLink`` implements
``gateway.ble.link.BleLink`` on it, so the gateway runs the same code as with bleak.
Faults are injected on the peripheral (``advertising = False`` to vanish, ``detach()`` to
drop a link) or the radio (``fail_connects``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TypeVar

from firmware_sim.peripheral import SimPeripheral
from gateway.ble.link import (
    Advertisement,
    AdvertisementCallback,
    BleConnection,
    ConnectionLostError,
    DeviceNotFoundError,
    NotifyCallback,
)
from gateway.ble.uuids import normalize_uuid

P = TypeVar("P", bound=SimPeripheral)


class SimRadio:
    def __init__(self) -> None:
        self.peripherals: dict[str, SimPeripheral] = {}
        self.fail_connects = 0
        """Refuse this many upcoming connection attempts (a busy or flaky device)."""
        self.listeners: list[Callable[[SimPeripheral], None]] = []
        """Scanners that hear each advertisement as it is sent (``air``)."""

    def add(self, peripheral: P) -> P:
        self.peripherals[peripheral.address.upper()] = peripheral
        peripheral.radio = self
        return peripheral

    def air(self, peripheral: SimPeripheral) -> None:
        """``peripheral`` sends its advertisement once: every listening scanner hears it."""
        if peripheral.advertising and self.find(peripheral.address) is peripheral:
            for listener in list(self.listeners):
                listener(peripheral)

    def readdress(self, peripheral: SimPeripheral, address: str) -> None:
        """The peripheral now advertises from ``address`` (a rotated private address)."""
        self.peripherals.pop(peripheral.address.upper(), None)
        peripheral.address = address
        self.peripherals[address.upper()] = peripheral

    def find(self, address: str) -> SimPeripheral | None:
        return self.peripherals.get(address.upper())


class SimConnection:
    def __init__(self, peripheral: SimPeripheral) -> None:
        self._p = peripheral

    @property
    def address(self) -> str:
        return self._p.address

    @property
    def is_connected(self) -> bool:
        return self._p.connected

    def _char(self, char_uuid: str) -> object:
        if not self._p.connected:
            raise ConnectionLostError(f"{self._p.address}: not connected")
        key = normalize_uuid(char_uuid)
        if key not in self._p.chars:
            raise ConnectionLostError(f"{self._p.address}: no characteristic {key}")
        return self._p.chars[key]

    async def characteristics(self) -> frozenset[str]:
        await asyncio.sleep(0)
        return frozenset(self._p.chars)

    async def read(self, char_uuid: str) -> bytes:
        await asyncio.sleep(0)
        self._char(char_uuid)
        char = self._p.chars[normalize_uuid(char_uuid)]
        if not char.readable:
            raise ConnectionLostError(f"{self._p.address}: {char.uuid} is not readable")
        return char.on_read() if char.on_read is not None else char.value

    async def write(self, char_uuid: str, data: bytes, *, response: bool = True) -> None:
        await asyncio.sleep(0)
        self._char(char_uuid)
        char = self._p.chars[normalize_uuid(char_uuid)]
        if char.on_write is not None:
            char.on_write(bytes(data))
        else:
            char.value = bytes(data)

    async def start_notify(self, char_uuid: str, callback: NotifyCallback) -> None:
        await asyncio.sleep(0)
        self._char(char_uuid)
        char = self._p.chars[normalize_uuid(char_uuid)]
        if not (char.notify or char.indicate):
            raise ConnectionLostError(f"{self._p.address}: {char.uuid} cannot notify")
        char.subscribers.append(callback)
        self._p.on_subscribe(char.uuid)

    async def stop_notify(self, char_uuid: str) -> None:
        await asyncio.sleep(0)
        if self._p.connected:
            self._p.chars[normalize_uuid(char_uuid)].subscribers.clear()

    async def disconnect(self) -> None:
        await asyncio.sleep(0)
        self._p.detach()

    async def pair(self) -> bool:
        await asyncio.sleep(0)
        if not self._p.bondable:
            raise ConnectionLostError(f"{self._p.address}: pairing rejected by the device")
        self._p.bonded = True
        return True


class SimLink:
    """``BleLink`` (and ``BondingLink``) over a ``SimRadio``."""

    def __init__(self, radio: SimRadio) -> None:
        self.radio = radio

    async def pair(self, address: str, *, timeout: float) -> bool:
        """Bond with a device in range (``BondingLink``)."""
        conn = await self.connect(address, timeout=timeout)
        try:
            assert isinstance(conn, SimConnection)
            return await conn.pair()
        finally:
            await conn.disconnect()

    async def scan(
        self, *, timeout: float, service_uuids: Sequence[str] | None = None
    ) -> list[Advertisement]:
        await asyncio.sleep(0)
        wanted = {normalize_uuid(u) for u in service_uuids or ()}
        return [
            p.advertisement()
            for p in self.radio.peripherals.values()
            if p.advertising and (not wanted or wanted & set(p.service_uuids))
        ]

    async def listen(self, callback: AdvertisementCallback) -> None:
        """Hear every advertisement the radio's peripherals send (``ListeningLink``)."""

        def heard(peripheral: SimPeripheral) -> None:
            callback(peripheral.advertisement())

        self.radio.listeners.append(heard)
        try:
            await asyncio.get_running_loop().create_future()  # until cancelled
        finally:
            self.radio.listeners.remove(heard)

    async def connect(
        self,
        address: str,
        *,
        timeout: float,
        on_disconnect: Callable[[], None] | None = None,
    ) -> BleConnection:
        await asyncio.sleep(0)
        peripheral = self.radio.find(address)
        if peripheral is None or not peripheral.advertising:
            raise DeviceNotFoundError(
                f"{address} is not advertising: wake the device (press its button) "
                "or move it closer to the gateway"
            )
        if self.radio.fail_connects > 0:
            self.radio.fail_connects -= 1
            raise ConnectionLostError(f"{address}: connection attempt failed")
        if peripheral.connected:
            peripheral.detach()
        peripheral.attach(on_disconnect)
        return SimConnection(peripheral)
