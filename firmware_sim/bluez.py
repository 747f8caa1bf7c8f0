"""A fake BlueZ: firmware_sim devices served as ``org.bluez`` objects on a D-Bus bus.

Unmodified bleak (and bleak-retry-connector) talk to it exactly as to the BlueZ daemon of a
Raspberry Pi: ObjectManager at ``/``, an ``Adapter1`` at ``/org/bluez/hci0``, a ``Device1``
per advertising peripheral found by discovery, and ``GattService1`` /
``GattCharacteristic1`` objects once a device is connected. Notifications and indications
reach bleak as ``PropertiesChanged`` of ``Value``, as BlueZ sends them after ``StartNotify``.

Run it on a private ``dbus-daemon`` (see ``PrivateBus``) and point
``DBUS_SYSTEM_BUS_ADDRESS`` at that bus, as bleak's own tests do. No ``from __future__
import annotations`` here: dbus-fast reads the D-Bus signatures from the annotations.
"""

import asyncio
import contextlib
import os
import shutil
import socket as sock
import subprocess
import tempfile
from pathlib import Path
from typing import Annotated, Any, Final

from dbus_fast import BusType, DBusError, PropertyAccess, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import (
    DBusBool,
    DBusBytes,
    DBusDict,
    DBusInt16,
    DBusObjectPath,
    DBusSignature,
    DBusStr,
)
from dbus_fast.service import ServiceInterface, dbus_method, dbus_property

from firmware_sim.peripheral import SimPeripheral
from firmware_sim.radio import SimRadio
from gateway.ble.uuids import normalize_uuid, short_uuid

ADAPTER_PATH: Final = "/org/bluez/hci0"
ADAPTER_ADDRESS: Final = "00:1A:7D:DA:71:13"
BLUEZ_ERROR: Final = "org.bluez.Error"

DBusStrList = Annotated[list[str], DBusSignature("as")]
DBusManufacturerData = Annotated[dict[int, Variant], DBusSignature("a{qv}")]

CHARACTERISTIC_SERVICE: Final[dict[int, int]] = {
    0x2A37: 0x180D,
    0x2A38: 0x180D,
    0x2A39: 0x180D,  # Heart Rate
    0x2A19: 0x180F,  # Battery
    0x2A35: 0x1810,
    0x2A36: 0x1810,
    0x2A49: 0x1810,  # Blood Pressure
    0x2A1C: 0x1809,
    0x2A1D: 0x1809,
    0x2A1E: 0x1809,  # Health Thermometer
    0x2A5E: 0x1822,
    0x2A5F: 0x1822,
    0x2A60: 0x1822,
    0x2A52: 0x1808,  # PLX; RACP (Glucose)
    0x2A9D: 0x181D,
    0x2A9E: 0x181D,  # Weight Scale
    0x2A9C: 0x181B,
    0x2A9B: 0x181B,  # Body Composition
    0x2A18: 0x1808,
    0x2A34: 0x1808,
    0x2A51: 0x1808,  # Glucose
    0x2A2B: 0x1805,  # Current Time
    0x2A29: 0x180A,
    0x2A24: 0x180A,
    0x2A25: 0x180A,
    0x2A26: 0x180A,
    0x2A27: 0x180A,
    0x2A28: 0x180A,
}
"""Which SIG service holds a characteristic (the simulated GATT table lists characteristics)."""

DBUS_CONFIG: Final = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_type="method_return"/>
    <allow send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="signal"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
  </policy>
</busconfig>
"""


class PrivateBus:
    """A ``dbus-daemon`` of our own, on a socket in a temp dir (Debian package ``dbus``)."""

    def __init__(self) -> None:
        binary = shutil.which("dbus-daemon")
        if binary is None:
            raise RuntimeError("dbus-daemon is not installed: sudo apt-get install dbus")
        self._dir = Path(tempfile.mkdtemp(prefix="vitalgate-dbus-"))
        socket = self._dir / "bus"
        config = self._dir / "bus.conf"
        config.write_text(DBUS_CONFIG.format(socket=socket))
        self.address = f"unix:path={socket}"
        self._proc = subprocess.Popen(  # noqa: S603 - our own fixed command
            [binary, "--config-file", str(config), "--nofork", "--nopidfile"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(200):
            # The socket file appears at bind(), a moment before listen(): wait until it
            # accepts a connection, or the first client is refused.
            if socket.exists() and _accepts(socket):
                return
            if self._proc.poll() is not None:
                break
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(0.025)
        self.close()
        raise RuntimeError("dbus-daemon did not start")

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(5)
        shutil.rmtree(self._dir, ignore_errors=True)


def _accepts(path: Path) -> bool:
    probe = sock.socket(sock.AF_UNIX, sock.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True


def device_path(address: str) -> str:
    return f"{ADAPTER_PATH}/dev_{address.upper().replace(':', '_')}"


class Adapter(ServiceInterface):
    def __init__(self, bluez: "FakeBlueZ") -> None:
        super().__init__("org.bluez.Adapter1")
        self._bluez = bluez
        self._discovering = False
        self.sessions = 0
        """Discovery sessions running (BlueZ keeps discovering until the last one stops)."""
        self.powered = True
        self.stuck = False
        """A wedged controller, as BlueZ reports it: every discovery is "In Progress" and
        connections fail until the adapter is powered off and on again."""
        self.power_cycles = 0

    @dbus_method()
    def StartDiscovery(self) -> None:  # noqa: N802 - D-Bus member names
        if not self.powered:
            raise DBusError(f"{BLUEZ_ERROR}.NotReady", "Resource Not Ready")
        if self.stuck:
            raise DBusError(f"{BLUEZ_ERROR}.InProgress", "Operation already in progress")
        self.sessions += 1
        if not self._discovering:
            self._discovering = True
            self.emit_properties_changed({"Discovering": True})
        self._bluez.discover()

    @dbus_method()
    def StopDiscovery(self) -> None:  # noqa: N802
        self.sessions = max(0, self.sessions - 1)
        if self._discovering and not self.sessions:
            self._discovering = False
            self.emit_properties_changed({"Discovering": False})

    @dbus_method()
    def SetDiscoveryFilter(self, properties: DBusDict) -> None:  # noqa: N802
        return

    @dbus_method()
    def RemoveDevice(self, device: DBusObjectPath) -> None:  # noqa: N802
        self._bluez.remove(device)

    @dbus_property(access=PropertyAccess.READ)
    def Address(self) -> DBusStr:  # noqa: N802
        return ADAPTER_ADDRESS

    @dbus_property(access=PropertyAccess.READ)
    def Name(self) -> DBusStr:  # noqa: N802
        return "vitalgate-fake"

    @dbus_property()
    def Powered(self) -> DBusBool:  # noqa: N802
        return self.powered

    @Powered.setter  # type: ignore[no-redef]
    def Powered(self, value: DBusBool) -> None:  # noqa: N802
        if self.powered and not value:
            self.power_cycles += 1
            self.stuck = False  # what a power cycle does for a wedged controller
            for device in list(self._bluez.devices.values()):
                device.peripheral.detach()
        self.powered = bool(value)
        self.emit_properties_changed({"Powered": self.powered})

    @dbus_property(access=PropertyAccess.READ)
    def Discovering(self) -> DBusBool:  # noqa: N802
        return self._discovering

    @dbus_property(access=PropertyAccess.READ)
    def Roles(self) -> DBusStrList:  # noqa: N802
        return ["central", "peripheral"]

    @dbus_property(access=PropertyAccess.READ)
    def Alias(self) -> DBusStr:  # noqa: N802
        return "vitalgate-fake"


class Device(ServiceInterface):
    def __init__(self, bluez: "FakeBlueZ", peripheral: SimPeripheral) -> None:
        super().__init__("org.bluez.Device1")
        self._bluez = bluez
        self.peripheral = peripheral
        self.path = device_path(peripheral.address)
        self.connected = False
        self.paired = False
        self.trusted = True
        self.gatt: list[tuple[str, ServiceInterface]] = []

    @dbus_method()
    async def Connect(self) -> None:  # noqa: N802
        await self._bluez.connect(self)

    @dbus_method()
    async def Disconnect(self) -> None:  # noqa: N802
        self.peripheral.detach()

    @dbus_method()
    def Pair(self) -> None:  # noqa: N802
        if not self.peripheral.advertising and not self.peripheral.connected:
            raise DBusError(f"{BLUEZ_ERROR}.AuthenticationFailed", "Page Timeout")
        if not self.peripheral.bondable:
            raise DBusError(f"{BLUEZ_ERROR}.AuthenticationRejected", "Authentication Rejected")
        self.paired = True
        self.peripheral.bonded = True
        self.emit_properties_changed({"Paired": True, "Bonded": True})

    @dbus_property(access=PropertyAccess.READ)
    def Address(self) -> DBusStr:  # noqa: N802
        return self.peripheral.address.upper()

    @dbus_property(access=PropertyAccess.READ)
    def AddressType(self) -> DBusStr:  # noqa: N802
        return "public"

    @dbus_property(access=PropertyAccess.READ)
    def Name(self) -> DBusStr:  # noqa: N802
        return self.peripheral.name or ""

    @dbus_property(access=PropertyAccess.READ)
    def Alias(self) -> DBusStr:  # noqa: N802
        return self.peripheral.name or self.peripheral.address

    @dbus_property(access=PropertyAccess.READ)
    def Adapter(self) -> DBusObjectPath:  # noqa: N802
        return ADAPTER_PATH

    @dbus_property(access=PropertyAccess.READ)
    def RSSI(self) -> DBusInt16:  # noqa: N802
        return self.peripheral.rssi

    @dbus_property(access=PropertyAccess.READ)
    def UUIDs(self) -> DBusStrList:  # noqa: N802
        return list(self.peripheral.service_uuids)

    @dbus_property(access=PropertyAccess.READ)
    def ManufacturerData(self) -> DBusManufacturerData:  # noqa: N802
        return {}

    @dbus_property(access=PropertyAccess.READ)
    def ServiceData(self) -> DBusDict:  # noqa: N802
        return service_data_property(self.peripheral)

    @dbus_property(access=PropertyAccess.READ)
    def Connected(self) -> DBusBool:  # noqa: N802
        return self.connected

    @dbus_property(access=PropertyAccess.READ)
    def ServicesResolved(self) -> DBusBool:  # noqa: N802
        return self.connected

    @dbus_property(access=PropertyAccess.READ)
    def Paired(self) -> DBusBool:  # noqa: N802
        return self.paired

    @dbus_property(access=PropertyAccess.READ)
    def Bonded(self) -> DBusBool:  # noqa: N802
        return self.paired

    @dbus_property()
    def Trusted(self) -> DBusBool:  # noqa: N802
        return self.trusted

    @Trusted.setter  # type: ignore[no-redef]
    def Trusted(self, value: DBusBool) -> None:  # noqa: N802
        self.trusted = bool(value)  # bleak trusts a device before pairing, as bluetoothctl does

    @dbus_property(access=PropertyAccess.READ)
    def Blocked(self) -> DBusBool:  # noqa: N802
        return False

    @dbus_property(access=PropertyAccess.READ)
    def LegacyPairing(self) -> DBusBool:  # noqa: N802
        return False


class GattService(ServiceInterface):
    def __init__(self, uuid: str, device: str) -> None:
        super().__init__("org.bluez.GattService1")
        self._uuid = uuid
        self._device = device

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> DBusStr:  # noqa: N802
        return self._uuid

    @dbus_property(access=PropertyAccess.READ)
    def Primary(self) -> DBusBool:  # noqa: N802
        return True

    @dbus_property(access=PropertyAccess.READ)
    def Device(self) -> DBusObjectPath:  # noqa: N802
        return self._device


class GattCharacteristic(ServiceInterface):
    def __init__(self, peripheral: SimPeripheral, uuid: str, service: str) -> None:
        super().__init__("org.bluez.GattCharacteristic1")
        self._p = peripheral
        self._uuid = uuid
        self._service = service
        self._notifying = False

    @property
    def _char(self) -> Any:
        return self._p.chars[self._uuid]

    def _check_link(self) -> None:
        if not self._p.connected:
            raise DBusError(f"{BLUEZ_ERROR}.NotConnected", "Not Connected")

    @dbus_method()
    def ReadValue(self, options: DBusDict) -> DBusBytes:  # noqa: N802
        self._check_link()
        if not self._char.readable:
            raise DBusError(f"{BLUEZ_ERROR}.NotPermitted", "Read not permitted")
        if self._char.on_read is not None:
            return bytes(self._char.on_read())
        return bytes(self._char.value)

    @dbus_method()
    def WriteValue(self, value: DBusBytes, options: DBusDict) -> None:  # noqa: N802
        self._check_link()
        if self._char.on_write is not None:
            self._char.on_write(bytes(value))
        else:
            self._char.value = bytes(value)

    @dbus_method()
    def StartNotify(self) -> None:  # noqa: N802
        self._check_link()
        if not (self._char.notify or self._char.indicate):
            raise DBusError(f"{BLUEZ_ERROR}.NotSupported", "Operation is not supported")
        if self._notifying:
            return
        self._notifying = True
        self._char.subscribers.append(self._forward)
        self.emit_properties_changed({"Notifying": True})
        self._p.on_subscribe(self._uuid)

    @dbus_method()
    def StopNotify(self) -> None:  # noqa: N802
        self._notifying = False
        with contextlib.suppress(ValueError):
            self._char.subscribers.remove(self._forward)
        self.emit_properties_changed({"Notifying": False})

    def _forward(self, _uuid: str, data: bytes) -> None:
        self.emit_properties_changed({"Value": bytes(data)})

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> DBusStr:  # noqa: N802
        return self._uuid

    @dbus_property(access=PropertyAccess.READ)
    def Service(self) -> DBusObjectPath:  # noqa: N802
        return self._service

    @dbus_property(access=PropertyAccess.READ)
    def Value(self) -> DBusBytes:  # noqa: N802
        return bytes(self._char.value)

    @dbus_property(access=PropertyAccess.READ)
    def Notifying(self) -> DBusBool:  # noqa: N802
        return self._notifying

    @dbus_property(access=PropertyAccess.READ)
    def Flags(self) -> DBusStrList:  # noqa: N802
        c = self._char
        flags = ["read"] if c.readable else []
        flags += ["write"] if c.on_write is not None else []
        flags += ["notify"] if c.notify else []
        flags += ["indicate"] if c.indicate else []
        return flags


def service_data_property(peripheral: SimPeripheral) -> dict[str, Variant]:
    """Device1.ServiceData as BlueZ gives it: UUID → byte array."""
    return {uuid: Variant("ay", data) for uuid, data in peripheral.service_data.items()}


class FakeBlueZ:
    """Serve the peripherals of ``radio`` as BlueZ would, on the bus at ``bus_address``."""

    def __init__(self, radio: SimRadio, bus_address: str) -> None:
        self.radio = radio
        self.bus_address = bus_address
        self.bus: MessageBus | None = None
        self.adapter = Adapter(self)
        self.devices: dict[str, Device] = {}
        self.connects = 0

    async def start(self) -> None:
        self.bus = await MessageBus(bus_address=self.bus_address, bus_type=BusType.SYSTEM).connect()
        self.bus.export(ADAPTER_PATH, self.adapter)
        await self.bus.request_name("org.bluez")
        self.radio.listeners.append(self._aired)

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self.radio.listeners.remove(self._aired)
        if self.bus is not None:
            self.bus.disconnect()
            with contextlib.suppress(Exception):
                await self.bus.wait_for_disconnect()  # type: ignore[no-untyped-call]

    def discover(self) -> None:
        """Every advertising peripheral in range becomes a Device1 object."""
        for peripheral in list(self.radio.peripherals.values()):
            if peripheral.advertising:
                self._announce(peripheral)

    def _aired(self, peripheral: SimPeripheral) -> None:
        """A peripheral sent an advertisement (``SimRadio.air``): while discovering, BlueZ
        passes it on at once, so a running BleakScanner's detection callback hears it."""
        if self.bus is not None and self.adapter.sessions and self.adapter.powered:
            self._announce(peripheral)

    def _announce(self, peripheral: SimPeripheral) -> None:
        assert self.bus is not None
        known = self.devices.get(device_path(peripheral.address))
        if known is None:
            device = Device(self, peripheral)
            self.devices[device.path] = device
            self.bus.export(device.path, device)
        elif not known.connected:
            # BlueZ reports a known device's new advertisement as a change of RSSI
            # (and of its service data, where a passive sensor's new reading is).
            changed: dict[str, Any] = {"RSSI": peripheral.rssi}
            if peripheral.service_data:
                changed["ServiceData"] = service_data_property(peripheral)
            known.emit_properties_changed(changed)

    def remove(self, path: str) -> None:
        device = self.devices.pop(path, None)
        if device is not None and self.bus is not None:
            self._drop_gatt(device)
            self.bus.unexport(path)

    async def connect(self, device: Device) -> None:
        assert self.bus is not None
        p = device.peripheral
        if self.adapter.stuck or not self.adapter.powered:
            raise DBusError(f"{BLUEZ_ERROR}.Failed", "le-connection-abort-by-local")
        if not p.advertising:
            # What BlueZ 5.6x does when the device is gone: the link comes up and drops at
            # once ("Connected" toggles), then Connect fails; bleak waits for the toggle.
            device.emit_properties_changed({"Connected": True})
            await asyncio.sleep(0)
            device.emit_properties_changed({"Connected": False})
            raise DBusError(f"{BLUEZ_ERROR}.Failed", "le-connection-abort-by-local")
        if device.connected:
            return
        self.connects += 1
        p.attach(lambda: self._on_link_lost(device))
        self._export_gatt(device)
        device.connected = True
        device.emit_properties_changed({"Connected": True})
        await asyncio.sleep(0)
        device.emit_properties_changed({"ServicesResolved": True})

    def _export_gatt(self, device: Device) -> None:
        assert self.bus is not None
        services: dict[str, str] = {}
        for n, uuid in enumerate(sorted(device.peripheral.chars)):
            short = short_uuid(uuid)
            service_uuid = normalize_uuid(CHARACTERISTIC_SERVICE.get(short or 0, 0x1800))
            if service_uuid not in services:
                path = f"{device.path}/service{len(services) + 1:04x}"
                services[service_uuid] = path
                svc = GattService(service_uuid, device.path)
                self.bus.export(path, svc)
                device.gatt.append((path, svc))
            char_path = f"{services[service_uuid]}/char{n + 1:04x}"
            char = GattCharacteristic(device.peripheral, uuid, services[service_uuid])
            self.bus.export(char_path, char)
            device.gatt.append((char_path, char))

    def _drop_gatt(self, device: Device) -> None:
        assert self.bus is not None
        for path, _ in reversed(device.gatt):
            self.bus.unexport(path)
        device.gatt.clear()

    def _on_link_lost(self, device: Device) -> None:
        if self.bus is None or not device.connected:
            return
        device.connected = False
        self._drop_gatt(device)
        device.emit_properties_changed({"ServicesResolved": False, "Connected": False})


def bus_env(address: str) -> dict[str, str]:
    """Environment that makes bleak (dbus-fast) use the private bus as the system bus."""
    return {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": address}


__all__ = ["FakeBlueZ", "PrivateBus", "Variant", "bus_env"]
