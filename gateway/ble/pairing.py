"""Pairing that a patient can do: a window opens (from the cloud, the CLI or the local page),
and the first health device of the expected kind that advertises during it is bonded and
assigned to the patient. The patient hears it worked when its first reading arrives.

Choosing the device is a pure function of what was heard (``candidate``), so the rule
("the expected kind, not already paired, strongest signal first") is tested without a radio.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.ble.bind_keys import parse_bind_key
from gateway.ble.guide import GUIDES
from gateway.ble.link import Advertisement
from gateway.ble.profiles import DeviceKind, recognize
from gateway.ble.state import DeviceState
from gateway.wire import Identifier, PatientAssignment

PAIRING_WINDOW: Final = timedelta(minutes=5)
"""Long enough to unpack a cuff and put batteries in; short enough that a neighbour's
scale switched on later is not taken."""
MAX_PAIRING_WINDOW: Final = timedelta(minutes=30)
REQUEST_FILE: Final = "ble-pairing-request.json"
"""Written by ``vitalgate-gateway pair`` (or the local page), read by the running gateway."""
STATUS_FILE: Final = "ble-pairing.json"
"""Written by the running gateway: the current or last pairing window."""
UNPAIR_FILE: Final = "ble-unpair-request.json"
"""Written by ``vitalgate-gateway unpair``: ``{"device_ids": [...]}``, read by the gateway."""


class PairingState(StrEnum):
    OPEN = "open"
    """Waiting for a device of the expected kind to advertise."""
    PAIRED = "paired"
    """Bonded and assigned; waiting for its first reading."""
    CONFIRMED = "confirmed"
    """Its first reading arrived: the patient is told it worked."""
    EXPIRED = "expired"
    """No such device advertised in time."""


class PairingRequest(BaseModel):
    """Open a pairing window (a ``start_pairing`` command's args, the CLI, the local page)."""

    model_config = ConfigDict(extra="forbid")

    kind: DeviceKind
    patients: list[PatientAssignment] = Field(min_length=1)
    minutes: float = Field(PAIRING_WINDOW.total_seconds() / 60, gt=0, le=30)
    device_id: Identifier | None = None
    """The cloud may name the device; otherwise the gateway derives an id from its address."""
    source: str = Field("cli", max_length=32)
    request_id: Identifier | None = None
    passive: bool = False
    """The device only advertises (a BTHome sensor): it is found by listening, not bonded."""
    bind_key: str | None = Field(None, repr=False)
    """Its BTHome bind key (32 hex characters) when it encrypts; implies ``passive``. Only
    an advertisement this key opens is taken, so a neighbour's sensor never is."""
    sensor_inserted_at: datetime | None = None
    """A CGM: when the patient put the sensor on (its session start, if the sensor has no
    clock of its own to say so); readings follow after the warm-up."""

    @field_validator("bind_key")
    @classmethod
    def _bind_key(cls, value: str | None) -> str | None:
        return None if value is None else parse_bind_key(value).hex()

    @model_validator(mode="after")
    def _passive(self) -> PairingRequest:
        if self.bind_key is not None:
            self.passive = True
        return self


@dataclass(frozen=True, slots=True)
class PairingWindow:
    request: PairingRequest
    opened_at: datetime
    expires_at: datetime
    state: PairingState = PairingState.OPEN
    device_id: str | None = None
    address: str | None = None
    message: str = ""
    """What to tell the patient, in plain words."""
    tried: tuple[str, ...] = field(default=())
    """Addresses that refused to bond during this window (not tried again)."""

    def with_state(self, state: PairingState, message: str, **changes: object) -> PairingWindow:
        return replace(self, state=state, message=message, **changes)  # type: ignore[arg-type]

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.request.kind.value,
            "patients": [p.model_dump() for p in self.request.patients],
            "source": self.request.source,
            "request_id": self.request.request_id,
            "opened_at": self.opened_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "state": self.state.value,
            "device_id": self.device_id,
            "address": self.address,
            "message": self.message,
        }


def open_window(request: PairingRequest, *, now: datetime) -> PairingWindow:
    minutes = timedelta(minutes=request.minutes)
    return PairingWindow(
        request,
        now,
        now + min(minutes, MAX_PAIRING_WINDOW),
        message=f"Switch on the {GUIDES[request.kind].label.lower()} or take a measurement "
        "near the gateway",
    )


def expired(window: PairingWindow, *, now: datetime) -> bool:
    return window.state is PairingState.OPEN and now >= window.expires_at


def candidate(
    window: PairingWindow, heard: Iterable[Advertisement], *, paired: Iterable[str]
) -> Advertisement | None:
    """The device to bond: of the expected kind, not paired already, not refused during this
    window; the strongest signal wins (the device in the patient's hand, not the neighbour's)."""
    taken = {a.upper() for a in paired} | {a.upper() for a in window.tried}
    fits = [
        ad
        for ad in heard
        if ad.address.upper() not in taken and recognize(ad.service_uuids) is window.request.kind
    ]
    return max(fits, key=lambda ad: ad.rssi if ad.rssi is not None else -127, default=None)


def device_id_for(kind: DeviceKind, address: str) -> str:
    """A stable id for a device the cloud did not name: its kind and address."""
    return f"{kind.value}-{address.replace(':', '').replace('-', '').lower()}"


def paired_device(
    request: PairingRequest, ad: Advertisement, *, now: datetime, **details: Any
) -> DeviceState:
    """The state of a device a pairing window took (``details``: what its path adds, a bond
    or the passive flag)."""
    return DeviceState(
        device_id=request.device_id or device_id_for(request.kind, ad.address),
        address=ad.address,
        kind=request.kind.value,
        patients=list(request.patients),
        paired_at=now,
        origin="pairing",
        rssi=ad.rssi,
        **details,
    )
