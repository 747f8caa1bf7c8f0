"""A small central for tests: connect over SimLink, subscribe, collect decoded values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from firmware_sim.peripheral import SimPeripheral
from firmware_sim.radio import SimLink, SimRadio
from gateway.ble.link import BleConnection
from gateway.ble.profiles import decode
from gateway.ble.uuids import normalize_uuid


@dataclass
class Central:
    """Collects (characteristic, decoded value) for every notification it receives."""

    radio: SimRadio = field(default_factory=SimRadio)
    received: list[tuple[int, Any]] = field(default_factory=list)
    raw: list[tuple[int, bytes]] = field(default_factory=list)
    disconnects: int = 0

    @property
    def link(self) -> SimLink:
        return SimLink(self.radio)

    def on_value(self, uuid: str, data: bytes) -> None:
        short = int(uuid[4:8], 16)
        self.raw.append((short, data))
        self.received.append((short, decode(uuid, data)))

    def on_disconnect(self) -> None:
        self.disconnects += 1

    async def connect(self, device: SimPeripheral, *subscribe: int) -> BleConnection:
        if self.radio.find(device.address) is None:
            self.radio.add(device)
        conn = await self.link.connect(device.address, timeout=5, on_disconnect=self.on_disconnect)
        for uuid in subscribe:
            await conn.start_notify(normalize_uuid(uuid), self.on_value)
        return conn

    def values(self, uuid: int) -> list[Any]:
        return [value for short, value in self.received if short == uuid]
