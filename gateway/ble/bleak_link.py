"""The BLE link on real radios: bleak, through bleak-retry-connector. The only bleak import.

Connections go through ``establish_connection`` (retry budget, backoff from the error,
stale-connection clean-up on BlueZ); every other call has an outer timeout, because a
BlueZ call can hang when the adapter is stuck. Errors become ``gateway.ble.link`` errors
whose messages tell the person at home what to do.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any, Final

from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError
from bleak_retry_connector import (
    BleakClientWithServiceCache,
    BleakNotFoundError,
    establish_connection,
)
from dbus_fast import BusType, Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from gateway.ble.link import (
    Advertisement,
    AdvertisementCallback,
    BleConnection,
    BleError,
    ConnectionLostError,
    DeviceNotFoundError,
    NotifyCallback,
)
from gateway.ble.uuids import normalize_uuid

CONNECT_ATTEMPTS: Final = 3
"""Retry budget for one connection, inside bleak-retry-connector (which backs off by error)."""
GATT_TIMEOUT_S: Final = 10.0
"""Outer timeout on a read, write or notify subscription."""
DISCONNECT_TIMEOUT_S: Final = 5.0

OUT_OF_RANGE_ADVICE: Final = (
    "is not advertising: wake the device (press its button or take a measurement) "
    "and keep it within a few metres of the gateway"
)


class BleakConnection:
    def __init__(self, client: BleakClient) -> None:
        self._client = client

    @property
    def address(self) -> str:
        return str(self._client.address)

    @property
    def is_connected(self) -> bool:
        return bool(self._client.is_connected)

    async def characteristics(self) -> frozenset[str]:
        return frozenset(
            normalize_uuid(char.uuid)
            for service in self._client.services
            for char in service.characteristics
        )

    async def read(self, char_uuid: str) -> bytes:
        try:
            async with asyncio.timeout(GATT_TIMEOUT_S):
                return bytes(await self._client.read_gatt_char(normalize_uuid(char_uuid)))
        except (BleakError, TimeoutError) as exc:
            raise ConnectionLostError(f"{self.address}: read of {char_uuid} failed: {exc}") from exc

    async def write(self, char_uuid: str, data: bytes, *, response: bool = True) -> None:
        try:
            async with asyncio.timeout(GATT_TIMEOUT_S):
                await self._client.write_gatt_char(
                    normalize_uuid(char_uuid), data, response=response
                )
        except (BleakError, TimeoutError) as exc:
            raise ConnectionLostError(
                f"{self.address}: write to {char_uuid} failed: {exc}"
            ) from exc

    async def start_notify(self, char_uuid: str, callback: NotifyCallback) -> None:
        def forward(char: BleakGATTCharacteristic, data: bytearray) -> None:
            callback(normalize_uuid(char.uuid), bytes(data))

        try:
            async with asyncio.timeout(GATT_TIMEOUT_S):
                await self._client.start_notify(normalize_uuid(char_uuid), forward)
        except (BleakError, TimeoutError) as exc:
            raise ConnectionLostError(
                f"{self.address}: subscribing to {char_uuid} failed: {exc}"
            ) from exc

    async def stop_notify(self, char_uuid: str) -> None:
        try:
            async with asyncio.timeout(GATT_TIMEOUT_S):
                await self._client.stop_notify(normalize_uuid(char_uuid))
        except (BleakError, TimeoutError) as exc:
            raise ConnectionLostError(f"{self.address}: unsubscribing failed: {exc}") from exc

    async def disconnect(self) -> None:
        try:
            async with asyncio.timeout(DISCONNECT_TIMEOUT_S):
                await self._client.disconnect()
        except (BleakError, TimeoutError) as exc:
            raise BleError(f"{self.address}: disconnect failed: {exc}") from exc


def _advertisement(device: BLEDevice, adv: AdvertisementData) -> Advertisement:
    return Advertisement(
        address=device.address.upper(),
        name=adv.local_name or device.name,
        rssi=adv.rssi,
        service_uuids=tuple(normalize_uuid(u) for u in adv.service_uuids),
        manufacturer_data=dict(adv.manufacturer_data),
        service_data={normalize_uuid(u): bytes(d) for u, d in adv.service_data.items()},
    )


class BleakLink:
    """``BleLink`` on bleak; ``adapter`` selects one (``"hci0"``) when the Pi has several."""

    def __init__(self, *, adapter: str | None = None) -> None:
        self.adapter = adapter
        self._seen: dict[str, BLEDevice] = {}
        self._listening = False
        self._collectors: list[dict[str, Advertisement]] = []
        self._discovery = asyncio.Lock()
        """One discovery at a time: BlueZ refuses a second StartDiscovery from one client."""

    async def listen(self, callback: AdvertisementCallback) -> None:
        """One BleakScanner with a detection callback, until cancelled (``ListeningLink``)."""

        def detected(device: BLEDevice, adv: AdvertisementData) -> None:
            self._seen[device.address.upper()] = device
            ad = _advertisement(device, adv)
            for collector in self._collectors:
                collector[ad.address] = ad
            callback(ad)

        options: dict[str, Any] = {"detection_callback": detected}
        if self.adapter is not None:
            options["adapter"] = self.adapter
        scanner = BleakScanner(**options)
        async with self._discovery:  # a scan under way ends first
            try:
                async with asyncio.timeout(GATT_TIMEOUT_S):
                    await scanner.start()
            except (BleakError, TimeoutError) as exc:
                raise BleError(
                    f"listening for sensors failed: {exc}; check that Bluetooth is switched on "
                    "(bluetoothctl power on)"
                ) from exc
            self._listening = True
        try:
            await asyncio.get_running_loop().create_future()  # until cancelled
        finally:
            self._listening = False
            with contextlib.suppress(BleakError, TimeoutError):
                async with asyncio.timeout(DISCONNECT_TIMEOUT_S):
                    await scanner.stop()

    async def _scan_while_listening(
        self, timeout: float, service_uuids: Sequence[str] | None
    ) -> list[Advertisement]:
        collector: dict[str, Advertisement] = {}
        self._collectors.append(collector)
        try:
            await asyncio.sleep(timeout)  # the scan's duration: what the listener hears in it
        finally:
            self._collectors.remove(collector)
        wanted = {normalize_uuid(u) for u in service_uuids or ()}
        return [ad for ad in collector.values() if not wanted or wanted & set(ad.service_uuids)]

    async def scan(
        self, *, timeout: float, service_uuids: Sequence[str] | None = None
    ) -> list[Advertisement]:
        async with self._discovery:
            if not self._listening:
                return await self._discover(timeout, service_uuids)
        return await self._scan_while_listening(timeout, service_uuids)

    async def _discover(
        self, timeout: float, service_uuids: Sequence[str] | None
    ) -> list[Advertisement]:
        uuids = [normalize_uuid(u) for u in service_uuids] if service_uuids else None
        options: dict[str, Any] = {"service_uuids": uuids} if uuids else {}
        if self.adapter is not None:
            options["adapter"] = self.adapter
        try:
            async with asyncio.timeout(timeout + GATT_TIMEOUT_S):
                found = await BleakScanner.discover(timeout=timeout, return_adv=True, **options)
        except (BleakError, TimeoutError) as exc:
            raise BleError(
                f"scanning failed: {exc}; check that Bluetooth is switched on (bluetoothctl power on)"
            ) from exc
        out = []
        for device, adv in found.values():
            self._seen[device.address.upper()] = device
            out.append(_advertisement(device, adv))
        return out

    async def connect(
        self,
        address: str,
        *,
        timeout: float,
        on_disconnect: Callable[[], None] | None = None,
    ) -> BleConnection:
        device = self._seen.get(address.upper())
        try:
            async with asyncio.timeout(timeout * (CONNECT_ATTEMPTS + 1)):
                if device is None:
                    device = await BleakScanner.find_device_by_address(address, timeout=timeout)
                if device is None:
                    raise DeviceNotFoundError(f"{address} {OUT_OF_RANGE_ADVICE}")
                client = await establish_connection(
                    BleakClientWithServiceCache,
                    device,
                    address,
                    disconnected_callback=(lambda _c: on_disconnect()) if on_disconnect else None,
                    max_attempts=CONNECT_ATTEMPTS,
                )
        except BleakNotFoundError as exc:
            raise DeviceNotFoundError(f"{address} {OUT_OF_RANGE_ADVICE}") from exc
        except (BleakError, TimeoutError) as exc:
            raise ConnectionLostError(
                f"{address}: could not connect ({exc}); move the gateway closer to the device"
            ) from exc
        return BleakConnection(client)

    async def pair(self, address: str, *, timeout: float) -> bool:
        """Bond with ``address`` (``BondingLink``)."""
        return await _pair(self, address, timeout=timeout)

    async def power_cycle(self, *, timeout: float) -> None:
        """Power the adapter off and on (``AdapterControl``), what unwedges a stuck controller."""
        await _power_cycle(self.adapter, timeout=timeout)


PAIR_TIMEOUT_S: Final = 30.0
"""Bonding includes the key exchange; a passkey-less health device bonds in a few seconds."""


async def _pair(link: BleakLink, address: str, *, timeout: float) -> bool:
    """Connect, bond (BlueZ picks LE Secure Connections when the device supports it), disconnect."""
    conn = await link.connect(address, timeout=timeout)
    assert isinstance(conn, BleakConnection)
    try:
        async with asyncio.timeout(PAIR_TIMEOUT_S):
            await conn._client.pair()
    except (BleakError, TimeoutError) as exc:
        raise ConnectionLostError(
            f"{address}: pairing failed ({exc}); put the device in pairing mode "
            "(see its manual, often a long press) and try again"
        ) from exc
    finally:
        await conn.disconnect()
    return True


async def _power_cycle(adapter: str | None, *, timeout: float) -> None:
    """Switch the adapter off and on through BlueZ (``Adapter1.Powered``)."""
    path = f"/org/bluez/{adapter or 'hci0'}"
    try:
        async with asyncio.timeout(timeout):
            bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
            try:
                for on in (False, True):
                    reply = await bus.call(
                        Message(
                            destination="org.bluez",
                            path=path,
                            interface="org.freedesktop.DBus.Properties",
                            member="Set",
                            signature="ssv",
                            body=["org.bluez.Adapter1", "Powered", Variant("b", on)],
                        )
                    )
                    if reply is None or reply.message_type == MessageType.ERROR:
                        detail = reply.body if reply is not None else "no reply"
                        raise BleError(
                            f"BlueZ refused to power {path} {'on' if on else 'off'}: {detail}"
                        )
            finally:
                bus.disconnect()
                await bus.wait_for_disconnect()  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError) as exc:
        raise BleError(
            f"could not power-cycle {path} ({exc}); unplug the gateway for 10 seconds"
        ) from exc
