"""One paired device, kept read: connect, read battery and clock, subscribe, download stored
records, decode, attribute to a patient, and reconnect with backoff after every drop.

``DeviceRuntime`` is the long-lived task ``gateway.ble.manager`` runs per device. Policy
lives in pure modules (``policy``, ``clock``, ``problems``, ``kinds``); this module only
sequences GATT calls. Bad input (malformed or duplicate notifications, a device that does
not implement what it advertises, a transfer that breaks off) is logged with the device and
the reason, counted in the device state, and never ends the task.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import structlog

from gateway.ble import clock, policy, racp_download
from gateway.ble.cgm import CgmReads, CgmSessionInfo
from gateway.ble.device_reads import DeviceReads
from gateway.ble.intake import Duplicates, attribute
from gateway.ble.kinds import BATTERY_LEVEL, CURRENT_TIME, behaviour
from gateway.ble.link import (
    BleConnection,
    BleError,
    BleLink,
    DeviceNotFoundError,
    UnsupportedDeviceError,
)
from gateway.ble.measurement import Measurement, MeasurementSink
from gateway.ble.problems import EventSink, Problem, ProblemTracker, learned_interval_s
from gateway.ble.profiles import CgmMeasurement, DeviceKind, ProfileError, decode
from gateway.ble.profiles.blood_pressure import UNUSABLE_STATUS
from gateway.ble.state import DeviceState, StateStore

log = structlog.get_logger(__name__)

CONNECT_TIMEOUT_S: Final = 20.0
SETUP_TIMEOUT_S: Final = 30.0
"""Reading battery, clock and information and subscribing: a healthy device needs 1–2 s."""
UNSUPPORTED_RETRY_S: Final = 3600.0
"""A device that lacks the service it advertises is looked at again hourly, not hammered."""
RACP_RECHECK_S: Final = 300.0
"""Between two record downloads from a glucose meter that stays in range."""
STREAM_SILENCE_S: Final = 120.0
"""A streaming device connected but silent this long has a stuck link: reconnect."""
MALFORMED_PROBLEM_AFTER: Final = 5
LEARN_FROM: Final = 16
"""The interval between readings is learned from the last 16, and once 16 are known only
re-learned every 16th: a sort per value cost a streaming strap a fifth of its time."""
"""Malformed notifications on one connection before the device is reported."""


Sleep = Callable[[float], Awaitable[None]]
FirstReading = Callable[[DeviceState, Measurement], None]


class DeviceRuntime(DeviceReads, CgmReads):
    """Keeps one paired device read until cancelled."""

    def __init__(
        self,
        link: BleLink,
        device: DeviceState,
        *,
        store: StateStore,
        sink: MeasurementSink,
        events: EventSink,
        clock_fn: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Sleep = asyncio.sleep,
        backoff_scale: float = 1.0,
        backoff_cap_s: float | None = None,
        stream_silence_s: float = STREAM_SILENCE_S,
        on_first_reading: FirstReading | None = None,
        battery_readings: bool = False,
    ) -> None:
        self.link = link
        self.device = device
        self.behaviour = behaviour(device.kind)
        self.store = store
        self.sink = sink
        self.now = clock_fn
        self.sleep = sleep
        self.backoff_scale = backoff_scale
        self.backoff_cap_s = backoff_cap_s
        """The longest wait between two connection attempts (settings), if shorter than the
        policy's own cap."""
        self.stream_silence_s = stream_silence_s
        self.on_first_reading = on_first_reading
        self.battery_readings = battery_readings
        """Also hand battery levels to ``sink`` as ``battery_level`` readings (the gateway
        does; the device list and low-battery events need no readings)."""
        owner = device.patients[0].patient_id if len(device.patients) == 1 else None
        self.problems = ProblemTracker(device.device_id, owner, events)
        self.connected = False
        self.failures = 0
        self.connections = 0
        self.last_error: str | None = None
        self.delays: deque[float] = deque(maxlen=64)
        """The latest backoffs waited, in seconds (for the status page and the tests)."""
        self._offset = timedelta(0)
        self._clock_was_set = False
        self._malformed = 0
        self._duplicates = Duplicates()
        self._times: deque[datetime] = deque(maxlen=LEARN_FROM)
        self._delivered = 0
        self._heard = asyncio.Event()
        self._poke = asyncio.Event()
        self._conn: BleConnection | None = None
        self.cgm: CgmSessionInfo | None = None
        silence = self.behaviour.silence
        if silence is not None:
            self.stream_silence_s = max(stream_silence_s, silence.total_seconds())

    def _count(self, reason: str) -> None:
        self.store.count(self.device_id, reason)

    def _touch(self) -> None:
        self.store.touch()

    # --- the loop --------------------------------------------------------------------------
    async def run(self) -> None:
        """Connect, read and reconnect after every drop, until cancelled."""
        while True:
            try:
                await self._connection()
            except (BleError, TimeoutError) as exc:
                await self._after_failure(exc)

    async def _after_failure(self, exc: BaseException) -> None:
        self.connected = False
        self.last_error = str(exc)
        attempt, self.failures = self.failures, self.failures + 1
        if isinstance(exc, UnsupportedDeviceError):
            delay = UNSUPPORTED_RETRY_S * self.backoff_scale
        else:
            delay = policy.retry_delay_s(
                exc, attempt, streams=self.behaviour.streams, scale=self.backoff_scale
            )
            if self.backoff_cap_s is not None:
                delay = min(delay, self.backoff_cap_s)
        if self.failures >= policy.MAX_ATTEMPTS_BEFORE_UNREACHABLE and self._overdue():
            self.problems.raise_(
                Problem.UNREACHABLE,
                now=self.now(),
                attempts=self.failures,
                reason=policy.advice(exc, label=self.behaviour.label),
            )
        # A sleeping cuff fails to connect every few seconds all day: say so once per spell.
        quiet = attempt > 0 and isinstance(exc, DeviceNotFoundError)
        (log.debug if quiet else log.info)(
            "ble.connect_failed",
            device_id=self.device_id,
            reason=str(exc),
            advice=policy.advice(exc, label=self.behaviour.label),
            retry_in_s=round(delay, 3),
        )
        self.delays.append(delay)
        await self._pause(delay)

    async def _pause(self, seconds: float) -> None:
        """Wait ``seconds``, or less if ``poke()`` asks to try again now."""
        if self._poke.is_set():
            self._poke.clear()
            return
        waits: set[asyncio.Future[Any]] = {
            asyncio.ensure_future(self.sleep(seconds)),
            asyncio.ensure_future(self._poke.wait()),
        }
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()  # not awaited: that could swallow our own cancellation
        self._poke.clear()

    def poke(self) -> None:
        """Try the device now (a cloud ``download_records``), not after the current wait."""
        self._poke.set()

    def _overdue(self) -> bool:
        """Not heard from for longer than its kind is allowed to be silent."""
        last = self.device.last_seen or self.device.paired_at
        return last is None or self.now() - last > self.behaviour.unreachable_after

    async def _connection(self) -> None:
        lost = asyncio.Event()
        loop = asyncio.get_running_loop()
        holder: list[BleConnection] = []

        def dropped() -> None:
            # bleak reports the Connected toggles of an aborted attempt as disconnects of the
            # client that then connects fine: only a link that is really down counts.
            if not holder or not holder[0].is_connected:
                lost.set()

        def on_disconnect() -> None:
            loop.call_soon_threadsafe(dropped)

        async with asyncio.timeout(CONNECT_TIMEOUT_S * 2):
            conn = await self.link.connect(
                self.device.address, timeout=CONNECT_TIMEOUT_S, on_disconnect=on_disconnect
            )
        holder.append(conn)
        self._conn = conn
        lost.clear()
        try:
            async with asyncio.timeout(SETUP_TIMEOUT_S):
                await self._setup(conn)
            self._connected_ok()
            if self.behaviour.racp:
                await self._download(conn, lost)
            if self.behaviour.racp and not self.behaviour.streams:
                self.connected, self._conn = False, None
                await self._disconnect(conn)  # spare the meter's battery until the next look
                await self._pause(RACP_RECHECK_S * self.backoff_scale)
                return
            await self._until_lost(conn, lost)
        finally:
            self.connected = False
            self._conn = None
            await self._disconnect(conn)
        log.info("ble.disconnected", device_id=self.device_id)

    def _connected_ok(self) -> None:
        now = self.now()
        self.connected = True
        self.connections += 1
        self.failures = 0
        self.device.last_seen = now
        self.store.touch()
        self.problems.clear(Problem.UNREACHABLE, now=now)
        log.info("ble.connected", device_id=self.device_id, kind=self.device.kind)

    async def _disconnect(self, conn: BleConnection) -> None:
        # Also after a drop: bleak frees its per-connection resources on disconnect.
        with contextlib.suppress(BleError, TimeoutError):
            await conn.disconnect()

    async def _until_lost(self, conn: BleConnection, lost: asyncio.Event) -> None:
        while not lost.is_set():
            if not self.behaviour.streams:
                await lost.wait()
                break
            self._heard.clear()
            heard = asyncio.ensure_future(self._heard.wait())
            gone = asyncio.ensure_future(lost.wait())
            try:
                done, _ = await asyncio.wait(
                    {heard, gone}, timeout=self.stream_silence_s, return_when="FIRST_COMPLETED"
                )
            finally:
                for task in (heard, gone):
                    task.cancel()
            if not done and conn.is_connected:
                log.warning(
                    "ble.stream_silent", device_id=self.device_id, silent_s=self.stream_silence_s
                )
                self._count("silent_link")
                return

    # --- setup -----------------------------------------------------------------------------
    async def _setup(self, conn: BleConnection) -> None:
        chars = await conn.characteristics()
        wanted = [c for c in self.behaviour.measurements if c in chars]
        if not wanted:
            self._count("unsupported")
            self.problems.raise_(
                Problem.BAD_DATA,
                now=self.now(),
                reason=f"advertises a {self.behaviour.label} service without its measurements",
            )
            raise UnsupportedDeviceError(
                f"{self.device.address} advertises a {self.behaviour.label} service but has "
                "none of its measurement characteristics: it cannot be read by VitalGate"
            )
        if BATTERY_LEVEL in chars:
            await self._read_battery(conn)
        if self.device.info.model is None:
            await self._read_info(conn, chars)
        self._offset, self._clock_was_set = timedelta(0), False
        if CURRENT_TIME in chars:
            await self._check_clock(conn)
        self._malformed = 0
        if self.behaviour.kind is DeviceKind.CGM:
            await self._setup_cgm(conn, chars)
        for char in wanted:
            await conn.start_notify(char, self._on_notify)

    async def _download(self, conn: BleConnection, lost: asyncio.Event) -> None:
        outcome = await racp_download.download(
            conn, last_sequence=self.device.last_sequence, lost=lost
        )
        log.info(
            "ble.records_downloaded",
            device_id=self.device_id,
            response=outcome.response.name,
            last_sequence=self.device.last_sequence,
        )
        await self.store.save_async()

    # --- notifications ---------------------------------------------------------------------
    def _bad(self, what: str, exc: Exception) -> None:
        self._count("malformed")
        self._malformed += 1
        log.warning("ble.malformed", device_id=self.device_id, what=what, reason=str(exc))
        if self._malformed >= MALFORMED_PROBLEM_AFTER:
            self.problems.raise_(Problem.BAD_DATA, now=self.now(), reason=str(exc)[:200])

    def _on_notify(self, char: str, data: bytes) -> None:
        now = self.now()
        self.device.last_seen = now
        self._heard.set()
        try:
            decoded = decode(char, data)
        except ProfileError as exc:
            self._bad(char[4:8], exc)
            return
        if char == BATTERY_LEVEL:
            self._battery(decoded.percent)
            return
        if isinstance(decoded, CgmMeasurement):
            for reading in self._cgm_readings(decoded.records):
                self._take(char, data, reading, now)
                self._cgm_seen(reading)
            return
        self._take(char, data, decoded, now)

    def _take(self, char: str, data: bytes, decoded: Any, now: datetime) -> None:
        """Drop repeats, note device problems, attribute and hand on one measurement."""
        if self._duplicates.seen(char, data, decoded, now=now):
            self._count("duplicate")
            log.info("ble.duplicate", device_id=self.device_id, characteristic=char[4:8])
            return
        self._track_problems(decoded, now)
        if not decoded.readings():
            return
        patient = attribute(self.device.patients, getattr(decoded, "user_id", None))
        if patient is None:
            self._count("unattributed")
            log.warning(
                "ble.unattributed",
                device_id=self.device_id,
                user_id=getattr(decoded, "user_id", None),
                advice="assign this user number of the device to a patient",
            )
            return
        self._deliver(char, decoded, patient, now)

    def _track_problems(self, decoded: Any, now: datetime) -> None:
        status = getattr(decoded, "status", None)
        if status is not None and self.device.kind == "bp_cuff":
            bad = sorted(UNUSABLE_STATUS.intersection(status))
            if bad:
                self.problems.raise_(Problem.CUFF_ERROR, now=now, status=bad)
            else:
                self.problems.clear(Problem.CUFF_ERROR, now=now)
        seq = getattr(decoded, "sequence_number", None)
        if seq is not None and self.behaviour.racp and getattr(decoded, "readings", None):
            last = self.device.last_sequence
            if last is None or seq > last:
                self.device.last_sequence = seq
                self.store.touch()

    def _deliver(self, char: str, decoded: Any, patient: str, now: datetime) -> None:
        stamp = getattr(decoded, "timestamp", None)
        offset = self._offset
        if self._clock_was_set and stamp is not None and abs(stamp - now) <= clock.CLOCK_TOLERANCE:
            offset = timedelta(0)  # taken after the gateway set the clock
        ts, flags = clock.corrected(stamp, offset=offset, received_at=now)
        if "device_clock_invalid" in flags:
            self._count("clock_invalid")
        m = Measurement(self.device_id, patient, char, decoded, now, ts, flags)
        self.sink(m)
        self._times.append(now)
        self._delivered += 1
        self.device.last_reading_at = now
        if len(self._times) < LEARN_FROM or self._delivered % LEARN_FROM == 0:
            self.device.learned_interval_s = learned_interval_s(list(self._times))
        first = self.device.first_reading_at is None
        if first:
            self.device.first_reading_at = now
        self.store.touch()
        if first and self.on_first_reading is not None:
            self.on_first_reading(self.device, m)
