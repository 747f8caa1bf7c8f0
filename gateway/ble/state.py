"""What the gateway remembers about each device across restarts, in one JSON file.

Paired devices (kind, address, the patients of the household who use them) and what was
learned about them: the last glucose record downloaded (RACP resumes after it), the clock
offset, battery, signal strength, the last reading and the interval between readings. The
file is replaced atomically (write, fsync, rename), so a power cut leaves the old or the new
version, never half of one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.wire import Identifier, PatientAssignment

log = structlog.get_logger(__name__)

STATE_FILE: Final = "ble-devices.json"

Origin = Literal["config", "settings", "pairing"]


class DeviceInfo(BaseModel):
    model_config = ConfigDict(extra="ignore")

    manufacturer: str | None = None
    model: str | None = None
    serial: str | None = None
    firmware: str | None = None


class DeviceState(BaseModel):
    """One paired device and what the gateway has learned about it."""

    model_config = ConfigDict(extra="ignore", validate_assignment=True)

    device_id: Identifier
    address: str = Field(max_length=64)
    kind: str = Field(max_length=32)
    patients: list[PatientAssignment] = Field(default_factory=list)
    paired_at: datetime | None = None
    origin: Origin = "config"
    """Who paired it: the cloud's config, the gateway settings, or a local pairing window.
    A config (or the settings) removes the devices it no longer lists, except those paired
    by a window that no config has listed yet."""
    bonded: bool = False
    info: DeviceInfo = Field(default_factory=DeviceInfo)
    battery: int | None = Field(None, ge=0, le=100)
    rssi: int | None = None
    last_seen: datetime | None = None
    last_reading_at: datetime | None = None
    first_reading_at: datetime | None = None
    learned_interval_s: float | None = None
    last_sequence: int | None = Field(None, ge=0, le=0xFFFF)
    """Highest glucose record sequence number downloaded (RACP resumes after it); for a CGM
    the highest time offset of its current session."""
    session_start: datetime | None = None
    """A CGM's current session start (its clock), which its time offsets count from."""
    clock_offset_s: float | None = None
    clock_set_at: datetime | None = None
    counters: dict[str, int] = Field(default_factory=dict)
    """Bad input seen from the device, by reason (malformed, duplicate, unattributed…)."""
    passive: bool = False
    """Only advertises its readings (a BTHome sensor): read by listening, never connected.
    Its bind key, if it encrypts, is in ``ble-bind-keys.json`` (``gateway.ble.bind_keys``)."""
    last_reading: str | None = Field(None, max_length=120)
    """The last reading in words ("body weight 80.3 kg"), for the pairing page and CLI."""


class _File(BaseModel):
    model_config = ConfigDict(extra="ignore")
    version: int = 1
    devices: dict[str, DeviceState] = Field(default_factory=dict)


class StateStore:
    """The device state file under the gateway's data dir; ``save()`` is atomic."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / STATE_FILE
        self.devices: dict[str, DeviceState] = {}
        self.dirty = False
        self._writing = asyncio.Lock()
        self._file_lock = threading.Lock()
        self.load()

    def load(self) -> None:
        if not self.path.is_file():
            return
        try:
            parsed = _File.model_validate_json(self.path.read_bytes())
        except (ValidationError, OSError, ValueError) as exc:
            # Keep the unreadable file for an operator to look at; start afresh.
            backup = self.path.with_suffix(".unreadable")
            with contextlib.suppress(OSError):
                self.path.replace(backup)
            log.error(
                "ble.state_unreadable", path=str(self.path), kept=str(backup), reason=str(exc)
            )
            return
        self.devices = dict(parsed.devices)

    def save(self) -> None:
        """Write the file if anything changed (blocking: ``save_async`` in the event loop)."""
        if self.dirty:
            self._write(self._dump())

    async def save_async(self) -> None:
        """Serialise on the loop (devices change there), write and fsync in a thread; one
        write at a time, as they share the temporary file."""
        async with self._writing:
            if self.dirty:
                await asyncio.to_thread(self._write, self._dump())

    def _dump(self) -> str:
        body = _File(devices=dict(self.devices)).model_dump_json(indent=2)
        self.dirty = False
        return body

    def _write(self, body: str) -> None:
        # A thread of a cancelled ``save_async`` may still be writing when the final
        # ``save()`` runs: both use the temporary file, so they take turns.
        with self._file_lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            with tmp.open("w", encoding="utf-8") as out:
                out.write(body)
                out.flush()
                os.fsync(out.fileno())
            tmp.replace(self.path)

    def get(self, device_id: str) -> DeviceState | None:
        return self.devices.get(device_id)

    def put(self, device: DeviceState) -> DeviceState:
        self.devices[device.device_id] = device
        self.dirty = True
        return device

    def remove(self, device_id: str) -> None:
        if self.devices.pop(device_id, None) is not None:
            self.dirty = True

    def by_address(self, address: str) -> DeviceState | None:
        wanted = address.upper()
        return next((d for d in self.devices.values() if d.address.upper() == wanted), None)

    def count(self, device_id: str, reason: str, n: int = 1) -> None:
        """Count bad input from a device (kept in the file, shown by ``devices``)."""
        device = self.devices.get(device_id)
        if device is not None:
            device.counters = {**device.counters, reason: device.counters.get(reason, 0) + n}
            self.dirty = True

    def touch(self) -> None:
        self.dirty = True

    def snapshot(self) -> list[dict[str, Any]]:
        """JSON-ready rows for ``vitalgate-gateway devices``."""
        return [json.loads(d.model_dump_json()) for d in self.devices.values()]
