"""Per-device sessions: connect, subscribe to measurements, decode, reconnect with backoff."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import structlog

from gateway.ble import profiles
from gateway.ble.link import BleConnection, BleError, BleLink
from gateway.ble.uuids import normalize_uuid

log = structlog.get_logger(__name__)

CONNECT_TIMEOUT_S: Final = 20.0
BACKOFF_FIRST_S: Final = 1.0
BACKOFF_FACTOR: Final = 2.0

MEASUREMENT_CHARACTERISTICS: Final = frozenset(
    normalize_uuid(u) for u in (0x2A37, 0x2A35, 0x2A1C, 0x2A5E, 0x2A5F, 0x2A9D, 0x2A9C, 0x2A18)
)
"""Characteristics the gateway subscribes to when a device exposes them (and can decode them)."""


@dataclass(frozen=True, slots=True)
class Measurement:
    """A decoded characteristic value, as it left the device, with where and when it arrived."""

    device_id: str
    patient_id: str
    characteristic: str
    decoded: Any
    received_at: datetime
    corrected_ts: datetime | None = None
    """When it was taken on the gateway's clock, if the device's time stamp needed correcting
    (``gateway.ble.clock``); the device's own stamp still identifies the measurement."""
    flags: tuple[str, ...] = ()
    """Quality flags the gateway adds (``clock_corrected``, ``device_clock_invalid``)."""


MeasurementSink = Callable[[Measurement], None]


def backoff_s(attempt: int, *, cap_s: float) -> float:
    """Seconds to wait before reconnect ``attempt`` (0-based): 1, 2, 4 … capped."""
    return float(min(cap_s, BACKOFF_FIRST_S * BACKOFF_FACTOR**attempt))


def _threadsafe_setter(event: asyncio.Event) -> Callable[[], None]:
    """A callback that sets ``event`` from any thread (bleak calls back from its own)."""
    loop = asyncio.get_running_loop()

    def fire() -> None:
        loop.call_soon_threadsafe(event.set)

    return fire


class DeviceSession:
    """Keeps one device connected and feeds its measurements to ``sink``."""

    def __init__(
        self,
        link: BleLink,
        *,
        address: str,
        device_id: str,
        patient_id: str,
        sink: MeasurementSink,
        reconnect_max_s: float = 30.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.link = link
        self.address = address
        self.device_id = device_id
        self.patient_id = patient_id
        self.sink = sink
        self.reconnect_max_s = reconnect_max_s
        self.clock = clock
        self.connected = False
        self.last_seen: datetime | None = None
        self.decode_errors = 0

    def _on_notify(self, char_uuid: str, data: bytes) -> None:
        now = self.clock()
        self.last_seen = now
        try:
            decoded = profiles.decode(char_uuid, data)
        except profiles.ProfileError as exc:
            self.decode_errors += 1
            log.warning("ble.decode_failed", device_id=self.device_id, reason=str(exc))
            return
        self.sink(Measurement(self.device_id, self.patient_id, char_uuid, decoded, now))

    async def _until_lost(self, conn: BleConnection, lost: asyncio.Event) -> None:
        """Wait for the link to drop, ignoring disconnect callbacks for a link that is up.

        bleak reports the "Connected" toggles of a connection attempt that BlueZ aborted and
        retried as disconnects of the client that then connects fine.
        """
        while True:
            await lost.wait()
            lost.clear()
            if not conn.is_connected:
                return
            log.debug("ble.spurious_disconnect", device_id=self.device_id)

    async def run(self) -> None:
        """Connect, subscribe, and reconnect after every drop, until cancelled."""
        attempt = 0
        while True:
            lost = asyncio.Event()
            on_disconnect = _threadsafe_setter(lost)
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT_S):
                    conn = await self.link.connect(
                        self.address,
                        timeout=CONNECT_TIMEOUT_S,
                        on_disconnect=on_disconnect,
                    )
                    chars = await conn.characteristics()
                    for char in sorted(chars & MEASUREMENT_CHARACTERISTICS):
                        if char in profiles.DECODERS:
                            await conn.start_notify(char, self._on_notify)
            except (BleError, TimeoutError) as exc:
                delay = backoff_s(attempt, cap_s=self.reconnect_max_s)
                attempt += 1
                log.info(
                    "ble.connect_failed",
                    device_id=self.device_id,
                    reason=str(exc),
                    retry_in_s=delay,
                )
                await asyncio.sleep(delay)
                continue
            attempt = 0
            self.connected = True
            log.info("ble.connected", device_id=self.device_id)
            try:
                await self._until_lost(conn, lost)
            finally:
                self.connected = False
                # Also after a drop: bleak frees its per-connection resources on disconnect.
                with contextlib.suppress(BleError, TimeoutError):
                    await conn.disconnect()
            log.info("ble.disconnected", device_id=self.device_id)
