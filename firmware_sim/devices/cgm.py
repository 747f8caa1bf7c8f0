"""A continuous glucose monitor: CGM Service (0x181F) with a reading every 5 minutes.

A session starts when the sensor is applied (or on a Specific Ops "start session"); after a
60-minute warm-up the sensor stores a record every 5 minutes, stamped with minutes since the
session started, and notifies it on 0x2AA7 when a central is subscribed. Records made while
nobody listened (out of range, gateway off) stay stored: the central fetches them over the
Record Access Control Point, filtered by time offset (CGMS 1.0.1: filter type 0x01 is
the time offset, a u16 like the Glucose Service's sequence number). Several records ready at
once travel concatenated, up to ``RECORDS_PER_NOTIFICATION`` a notification (three full
records with their CRC need an ATT MTU of 40, which BlueZ and phones negotiate). With
``e2e_crc`` every CGM value carries its E2E-CRC and the feature says so.

Time is simulated: ``set_time`` / ``advance`` make the sensor take the readings that fell due.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Final

from firmware_sim.cgm_glucose import CgmGlucoseModel
from firmware_sim.devices import racp
from firmware_sim.devices.base import HealthDevice
from firmware_sim.encoders.cgm import (
    encode_cgm_control_point,
    encode_cgm_feature,
    encode_cgm_measurement,
    encode_cgm_session_run_time,
    encode_cgm_session_start_time,
    encode_cgm_status,
)
from firmware_sim.scenario import FaultKind
from gateway.ble.profiles import (
    CgmControlPoint,
    CgmFeature,
    CgmMeasurement,
    CgmRecord,
    CgmSessionRunTime,
    CgmSessionStartTime,
    CgmStatus,
    DateTime,
    DeviceKind,
    ProfileError,
    RacpRequest,
)
from gateway.ble.profiles.cgm import CgmSampleLocation, CgmType
from gateway.ble.profiles.cgm_control import (
    INTERVAL_FASTEST,
    CgmCalibration,
    SocpOpCode,
    SocpResponse,
    decode_cgm_control_point,
)
from gateway.ble.profiles.cgm_session import DstOffset

CGM_SERVICE: Final = 0x181F
CGM_MEASUREMENT: Final = 0x2AA7
CGM_FEATURE: Final = 0x2AA8
CGM_STATUS: Final = 0x2AA9
SESSION_START_TIME: Final = 0x2AAA
SESSION_RUN_TIME: Final = 0x2AAB
RACP: Final = 0x2A52
SOCP: Final = 0x2AAC
INTERVAL_MIN: Final = 5
WARM_UP_MIN: Final = 60
RUN_TIME_H: Final = 14 * 24
RECORDS_PER_NOTIFICATION: Final = 3
FEATURES: Final = (
    "calibration",
    "sensor_malfunction_detection",
    "low_battery_detection",
    "multiple_sessions",
    "trend_information",
    "quality",
)


def select(records: list[CgmRecord], request: RacpRequest) -> list[CgmRecord]:
    """The records a RACP operator picks, by time offset."""
    return racp.select(records, request, key=lambda r: r.time_offset_min)


class ContinuousGlucoseMonitor(HealthDevice):
    kind = DeviceKind.CGM
    services = (CGM_SERVICE,)
    model_number = "VG-CGM1"

    def __init__(
        self,
        address: str,
        *,
        e2e_crc: bool = True,
        calibration_every_h: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(address, **kwargs)
        self.e2e_crc = e2e_crc
        self.calibration_every_h = calibration_every_h
        self.model = CgmGlucoseModel(self.patient)
        self.records: list[CgmRecord] = []
        self.interval_min = INTERVAL_MIN
        """Communication interval, minutes (0: notifications off); readings stay 5-minutely."""
        self.calibration: CgmCalibration | None = None
        self.session_start: datetime | None = None
        """True time the session started (None: no session)."""
        self.session_stamp = DateTime(0, 0, 0)
        """The session start as the sensor's clock showed it."""
        self.stopped = False
        self.last_calibration: datetime | None = None
        self._next_offset = 0
        feature = CgmFeature(
            (*FEATURES, *(("e2e_crc",) if e2e_crc else ())),
            CgmType.INTERSTITIAL_FLUID,
            CgmSampleLocation.SUBCUTANEOUS_TISSUE,
        )
        self.add_characteristic(CGM_MEASUREMENT, notify=True, readable=False)
        self.add_characteristic(CGM_FEATURE, value=encode_cgm_feature(feature))
        self.add_characteristic(CGM_STATUS, on_read=lambda: encode_cgm_status(self.status()))
        self.add_characteristic(SESSION_START_TIME, on_read=self._read_start)
        self.add_characteristic(
            SESSION_RUN_TIME,
            value=encode_cgm_session_run_time(CgmSessionRunTime(RUN_TIME_H, e2e_crc)),
        )
        self.add_characteristic(RACP, indicate=True, readable=False, on_write=self._racp)
        self.add_characteristic(SOCP, indicate=True, readable=False, on_write=self._socp)
        self.start_session()

    # --- session ---------------------------------------------------------------------------
    def start_session(self) -> None:
        """Begin a new sensor session now (the previous session's records are dropped)."""
        self.session_start = self.now
        self.session_stamp = self.device_stamp()
        self.last_calibration = self.now
        self.records = []
        self.stopped = False
        self._next_offset = WARM_UP_MIN

    def minutes_in_session(self) -> int:
        if self.session_start is None:
            return 0
        return int((self.now - self.session_start) / timedelta(minutes=1))

    def status(self) -> CgmStatus:
        minutes = min(self.minutes_in_session(), 0xFFFF)
        stopped = self.stopped or minutes >= RUN_TIME_H * 60
        battery = self.fault(FaultKind.LOW_BATTERY) is not None
        status = (
            *(("session_stopped",) if stopped else ()),
            *(("device_battery_low",) if battery else ()),
        )
        return CgmStatus(minutes, status, self._cal_temp(self.now) or (), (), self.e2e_crc)

    def _cal_temp(self, when: datetime) -> tuple[str, ...] | None:
        every = self.calibration_every_h
        due = (
            every is not None
            and self.last_calibration is not None
            and when - self.last_calibration >= timedelta(hours=every)
        )
        return ("calibration_required",) if due else None

    def _read_start(self) -> bytes:
        return encode_cgm_session_start_time(
            CgmSessionStartTime(self.session_stamp, 0, DstOffset.STANDARD, self.e2e_crc)
        )

    # --- time and readings -----------------------------------------------------------------
    def set_time(self, now: datetime) -> None:
        super().set_time(now)
        self._take_due_readings()

    def advance(self, seconds: float) -> None:
        super().advance(seconds)
        self._take_due_readings()

    def _take_due_readings(self) -> None:
        start = self.session_start
        if start is None or self.stopped:
            return
        fresh: list[CgmRecord] = []
        last = min(self.minutes_in_session(), RUN_TIME_H * 60)
        while self._next_offset <= last:
            offset = self._next_offset
            self._next_offset += INTERVAL_MIN
            record = self._record(start + timedelta(minutes=offset), offset)
            if record is not None:
                fresh.append(record)
        self.records.extend(fresh)
        if fresh and self.interval_min:
            self._notify(fresh)

    def _record(self, when: datetime, offset: int) -> CgmRecord | None:
        value = self.model.reading(when)
        if value is None:
            return None
        before = self.model.reading(when - timedelta(minutes=15))
        trend = None if before is None else round((value - before) / 15.0, 1)
        battery = self.fault(FaultKind.LOW_BATTERY) is not None
        return CgmRecord(
            value,
            offset,
            status=("device_battery_low",) if battery else None,
            cal_temp=self._cal_temp(when),
            trend=trend,
            quality=100.0 if trend is not None else 90.0,
            crc=self.e2e_crc,
        )

    def _notify(self, records: list[CgmRecord]) -> None:
        for i in range(0, len(records), RECORDS_PER_NOTIFICATION):
            chunk = tuple(records[i : i + RECORDS_PER_NOTIFICATION])
            self.send(CGM_MEASUREMENT, encode_cgm_measurement(CgmMeasurement(chunk)))

    # --- control points --------------------------------------------------------------------
    def _racp(self, data: bytes) -> None:
        """RACP (CGMS 1.0.1), filtered by time offset; needs the indication enabled."""
        if not self.subscribed(RACP):
            return
        self.records = racp.procedure(
            data, records=self.records, select=select, deliver=self._notify,
            indicate=lambda payload: self.send(RACP, payload),
        )  # fmt: skip

    def _socp_reply(self, request: int, code: SocpResponse) -> None:
        reply = CgmControlPoint(
            SocpOpCode.RESPONSE_CODE, request_op_code=request, response=code, crc=self.e2e_crc
        )
        self.send(SOCP, encode_cgm_control_point(reply))

    def _socp(self, data: bytes) -> None:
        """Specific Ops (CGMS 1.0.1): sessions, the communication interval, calibration."""
        if not self.subscribed(SOCP):
            return
        try:
            request = decode_cgm_control_point(data)
        except ProfileError:
            self._socp_reply(data[0] if data else 0, SocpResponse.INVALID_OPERAND)
            return
        op = request.op_code
        if op is SocpOpCode.START_SESSION:
            self.start_session()
        elif op is SocpOpCode.STOP_SESSION:
            self.stopped = True
        elif op is SocpOpCode.SET_COMMUNICATION_INTERVAL:
            wanted = request.interval_min or 0
            self.interval_min = INTERVAL_MIN if wanted == INTERVAL_FASTEST else wanted
            if self.interval_min:
                self.interval_min = max(INTERVAL_MIN, self.interval_min)
        elif op is SocpOpCode.GET_COMMUNICATION_INTERVAL:
            reply = CgmControlPoint(
                SocpOpCode.COMMUNICATION_INTERVAL_RESPONSE,
                interval_min=self.interval_min,
                crc=self.e2e_crc,
            )
            self.send(SOCP, encode_cgm_control_point(reply))
            return
        elif op is SocpOpCode.SET_CALIBRATION_VALUE and request.calibration is not None:
            self.last_calibration = self.now
            self.calibration = replace(request.calibration, status=())
        else:
            self._socp_reply(int(op), SocpResponse.OP_CODE_NOT_SUPPORTED)
            return
        self._socp_reply(int(op), SocpResponse.SUCCESS)
