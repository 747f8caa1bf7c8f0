"""What the gateway does with a continuous glucose monitor (CGM Service 0x181F).

A CGM record carries only minutes since its session started, so on each connection the
gateway first reads the CGM Feature (does the sensor protect its values with an E2E-CRC?),
the Session Start Time and the CGM Status, and only then subscribes. Each record becomes a
``CgmReading`` placed in time: session start (the sensor's clock) plus time offset, which is
also its identity, so a record heard live and again in a RACP download keeps one reading id.
The clock correction of ``gateway.ble.clock`` then moves it onto the gateway's clock.

The RACP download after a gap resumes after the highest time offset received in the current
session (persisted as the device's ``last_sequence``; CGMS filters RACP by time offset); a
new session starts the count afresh. Sensor warm-up, expiry and calibration requests are
device problems (``gateway.ble.problems``), never clinical alerts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import structlog

from gateway.ble.link import BleConnection
from gateway.ble.problems import Problem, ProblemTracker
from gateway.ble.profiles import (
    CgmFeature,
    CgmRecord,
    CgmSessionRunTime,
    CgmSessionStartTime,
    CgmStatus,
    ProfileError,
    ProfileReading,
    decode,
)
from gateway.ble.state import DeviceState
from gateway.ble.uuids import normalize_uuid

log = structlog.get_logger(__name__)

CGM_MEASUREMENT: Final = normalize_uuid(0x2AA7)
CGM_FEATURE: Final = normalize_uuid(0x2AA8)
CGM_STATUS: Final = normalize_uuid(0x2AA9)
SESSION_START_TIME: Final = normalize_uuid(0x2AAA)
SESSION_RUN_TIME: Final = normalize_uuid(0x2AAB)
WARM_UP: Final = timedelta(hours=2)
"""A session younger than this that has sent no reading yet is warming up (sensors on the
market take 30 minutes to 2 hours)."""
CALIBRATION_FLAGS: Final = frozenset({"calibration_required", "calibration_recommended"})


@dataclass(frozen=True, slots=True)
class CgmReading:
    """One CGM record with the session it belongs to; ``timestamp`` is on the sensor's clock."""

    record: CgmRecord
    session_start: datetime

    @property
    def timestamp(self) -> datetime:
        return self.session_start + timedelta(minutes=self.record.time_offset_min)

    @property
    def time_offset_min(self) -> int:
        return self.record.time_offset_min

    @property
    def usable(self) -> bool:
        return self.record.usable

    @property
    def flags(self) -> tuple[str, ...]:
        """Annunciations and trend, carried in the wire reading's quality flags."""
        return self.record.flags

    def readings(self) -> list[ProfileReading]:
        return self.record.readings()


@dataclass(frozen=True, slots=True)
class CgmSessionInfo:
    """What the gateway read from the sensor on connecting."""

    start: datetime | None
    crc_required: bool = False
    status: CgmStatus | None = None
    run_time_h: int | None = None


def expired(info: CgmSessionInfo) -> bool:
    """The session has ended: the sensor says so, or its run time has passed."""
    status = info.status
    if status is None:
        return False
    if "session_stopped" in status.status:
        return True
    return info.run_time_h is not None and status.time_offset_min >= info.run_time_h * 60


def warming_up(info: CgmSessionInfo, *, readings_in_session: bool) -> bool:
    """A young session that has not produced a reading yet."""
    status = info.status
    if status is None or readings_in_session or expired(info):
        return False
    return timedelta(minutes=status.time_offset_min) < WARM_UP


class CgmReads:
    """The CGM part of ``DeviceRuntime`` (which provides these attributes)."""

    device: DeviceState
    problems: ProblemTracker
    now: Callable[[], datetime]
    cgm: CgmSessionInfo | None

    def _count(self, reason: str) -> None:
        raise NotImplementedError

    def _touch(self) -> None:
        raise NotImplementedError

    def _bad(self, what: str, exc: Exception) -> None:
        raise NotImplementedError

    async def _optional(self, conn: BleConnection, what: str, call: Any) -> Any:
        raise NotImplementedError

    async def _read_cgm(self, conn: BleConnection, uuid: str, chars: frozenset[str]) -> Any:
        if uuid not in chars:
            return None
        raw = await self._optional(conn, uuid[4:8], conn.read(uuid))
        if raw is None:
            return None
        try:
            return decode(uuid, raw)
        except ProfileError as exc:
            self._bad(uuid[4:8], exc)
            return None

    async def _setup_cgm(self, conn: BleConnection, chars: frozenset[str]) -> None:
        """Read feature, session start, run time and status before subscribing."""
        feature = await self._read_cgm(conn, CGM_FEATURE, chars)
        start = await self._read_cgm(conn, SESSION_START_TIME, chars)
        run_time = await self._read_cgm(conn, SESSION_RUN_TIME, chars)
        status = await self._read_cgm(conn, CGM_STATUS, chars)
        began = start.timestamp if isinstance(start, CgmSessionStartTime) else None
        self.cgm = CgmSessionInfo(
            began,
            crc_required=isinstance(feature, CgmFeature) and feature.e2e_crc,
            status=status if isinstance(status, CgmStatus) else None,
            run_time_h=run_time.hours if isinstance(run_time, CgmSessionRunTime) else None,
        )
        if began is not None and began != self.device.session_start:
            # A new session: its time offsets start again, so the download starts afresh.
            log.info("ble.cgm_session", device_id=self.device.device_id, start=began.isoformat())
            self.device.session_start = began
            self.device.last_sequence = None
            self._touch()
        self._session_problems()

    def _session_problems(self) -> None:
        info, now = self.cgm, self.now()
        if info is None:
            return
        offset = None if info.status is None else info.status.time_offset_min
        if expired(info):
            self.problems.raise_(Problem.SENSOR_EXPIRED, now=now, time_offset_min=offset)
        else:
            self.problems.clear(Problem.SENSOR_EXPIRED, now=now)
        if warming_up(info, readings_in_session=self.device.last_sequence is not None):
            self.problems.raise_(Problem.SENSOR_WARM_UP, now=now, time_offset_min=offset)
        if info.status is not None:
            self._calibration(info.status.annunciations, now)

    def _calibration(self, annunciations: tuple[str, ...], now: datetime) -> None:
        asked = sorted(CALIBRATION_FLAGS.intersection(annunciations))
        if asked:
            self.problems.raise_(Problem.CALIBRATION_REQUESTED, now=now, status=asked)
        else:
            self.problems.clear(Problem.CALIBRATION_REQUESTED, now=now)

    def _cgm_readings(self, records: tuple[CgmRecord, ...]) -> list[CgmReading]:
        """The records of one notification placed in their session; records the gateway
        cannot place (no session start) or that lack a CRC the sensor promised are refused."""
        info = self.cgm
        if info is None or info.start is None:
            self._count("no_session_start")
            log.warning(
                "ble.cgm_no_session_start",
                device_id=self.device.device_id,
                advice="start a sensor session on the CGM (or restart it)",
            )
            return []
        out: list[CgmReading] = []
        for record in records:
            if info.crc_required and not record.crc:
                self._bad("2aa7", ProfileError("CGM record without the E2E-CRC its sensor uses"))
                continue
            out.append(CgmReading(record, info.start))
        return out

    def _cgm_seen(self, reading: CgmReading) -> None:
        """After a record is handed on: resume point, warm-up over, calibration state."""
        now = self.now()
        last = self.device.last_sequence
        if last is None or reading.time_offset_min > last:
            self.device.last_sequence = reading.time_offset_min
            self._touch()
        self.problems.clear(Problem.SENSOR_WARM_UP, now=now)
        self._calibration(reading.record.annunciations, now)
