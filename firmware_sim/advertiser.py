"""Simulated passive sensors: devices that never accept a connection and only advertise.

``BTHomeAdvertiser`` is a BTHome v2 sensor (a scale, a thermometer): each ``measure``
gives the advertising data of its next packet, with the packet id and (encrypted) the
counter advanced, exactly as a real sensor's bytes. ``SigAdvertiser`` broadcasts a SIG
health characteristic's value as service data. Both can rotate their address, as a sensor
using a resolvable private address does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from firmware_sim.encoders import ENCODERS
from firmware_sim.encoders.advertising import advertising_data, encode_bthome
from firmware_sim.peripheral import SimPeripheral
from gateway.ble.profiles.advertising import service_data_of
from gateway.ble.profiles.bthome import PACKET_ID, BTHomeAdvertisement, BTHomeObject
from gateway.ble.uuids import normalize_uuid


@dataclass
class BTHomeAdvertiser:
    address: str
    bind_key: bytes | None = None
    include_mac: bool = False
    """Put the sensor's identity MAC in the packet (it then survives address rotation)."""
    identity: str | None = None
    """The MAC carried when ``include_mac``; defaults to the first address."""
    trigger_based: bool = False
    name: str | None = None
    packet_id: int = 0
    counter: int = 0
    sent: list[BTHomeAdvertisement] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.identity is None:
            self.identity = self.address

    def measure(self, values: Mapping[int, float | int | str | bytes]) -> bytes:
        """Advertising data for a new measurement: object id → value (scaled units)."""
        self.packet_id = (self.packet_id + 1) % 256
        self.counter = (self.counter + 1) % (1 << 32)
        objects = [BTHomeObject(PACKET_ID, self.packet_id)]
        objects += [BTHomeObject(oid, value) for oid, value in sorted(values.items())]
        adv = BTHomeAdvertisement(
            tuple(objects),
            encrypted=self.bind_key is not None,
            trigger_based=self.trigger_based,
            mac=self.identity if self.include_mac else None,
            counter=self.counter if self.bind_key is not None else None,
        )
        self.sent.append(adv)
        return self.repeat()

    def repeat(self) -> bytes:
        """The last packet again: a sensor repeats each advertisement many times."""
        payload = encode_bthome(self.sent[-1], address=self.address, bind_key=self.bind_key)
        return advertising_data({0xFCD2: payload}, name=self.name)

    def rotate_address(self, address: str) -> None:
        self.address = address


@dataclass
class SigAdvertiser:
    """Broadcasts a characteristic value (by the firmware_sim encoders) as service data."""

    address: str
    uuid16: int
    """The characteristic or service UUID the service data is keyed by."""
    characteristic: int
    name: str | None = None

    def measure(self, value: object) -> bytes:
        data = ENCODERS[normalize_uuid(self.characteristic)](value)
        return advertising_data({self.uuid16: data}, name=self.name)


class PassivePeripheral(SimPeripheral):
    """A sensor on the simulated radio that only advertises (no GATT table, no bonding):
    ``broadcast`` puts an advertiser's packet in the air for scanners to hear."""

    def __init__(self, address: str, *, name: str | None = None) -> None:
        super().__init__(address, name=name, service_uuids=())
        self.bondable = False

    def broadcast(self, advertising_data: bytes) -> None:
        """Put the packet in the air: scanners listening on the radio hear it at once, and
        a scan hears it until the next one."""
        self.service_data = {
            normalize_uuid(uuid): data for uuid, data in service_data_of(advertising_data).items()
        }
        if self.radio is not None:
            self.radio.air(self)

    def rotate(self, address: str) -> None:
        """Advertise from a new (resolvable private) address from now on."""
        if self.radio is not None:
            self.radio.readdress(self, address)
        else:
            self.address = address
