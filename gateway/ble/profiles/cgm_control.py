"""CGM Specific Ops Control Point 0x2AAC (CGMS 1.0.1): op code u8 | operand | E2E-CRC?

The gateway writes requests (start or stop a session, set or get the communication interval,
a calibration value, alert levels) and the sensor indicates responses. Both directions share
one layout, so one decoder reads both; the operand's size follows from the op code (the table
``OPERANDS``), and two more bytes after it are the E2E-CRC. An op code this version does not
know keeps its operand as raw bytes ("unknown", not refused).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final, Literal

from gateway.ble.profiles.base import Cursor, FlagTable, ProfileError, ProfileReading
from gateway.ble.profiles.cgm import (
    SOCP_NAME,
    CgmSampleLocation,
    CgmType,
    check_crc,
    known,
)


class SocpOpCode(IntEnum):
    SET_COMMUNICATION_INTERVAL = 1
    GET_COMMUNICATION_INTERVAL = 2
    COMMUNICATION_INTERVAL_RESPONSE = 3
    SET_CALIBRATION_VALUE = 4
    GET_CALIBRATION_VALUE = 5
    CALIBRATION_VALUE_RESPONSE = 6
    SET_PATIENT_HIGH_ALERT = 7
    GET_PATIENT_HIGH_ALERT = 8
    PATIENT_HIGH_ALERT_RESPONSE = 9
    SET_PATIENT_LOW_ALERT = 10
    GET_PATIENT_LOW_ALERT = 11
    PATIENT_LOW_ALERT_RESPONSE = 12
    SET_HYPO_ALERT = 13
    GET_HYPO_ALERT = 14
    HYPO_ALERT_RESPONSE = 15
    SET_HYPER_ALERT = 16
    GET_HYPER_ALERT = 17
    HYPER_ALERT_RESPONSE = 18
    SET_RATE_OF_DECREASE_ALERT = 19
    GET_RATE_OF_DECREASE_ALERT = 20
    RATE_OF_DECREASE_ALERT_RESPONSE = 21
    SET_RATE_OF_INCREASE_ALERT = 22
    GET_RATE_OF_INCREASE_ALERT = 23
    RATE_OF_INCREASE_ALERT_RESPONSE = 24
    RESET_DEVICE_SPECIFIC_ALERT = 25
    START_SESSION = 26
    STOP_SESSION = 27
    RESPONSE_CODE = 28


class SocpResponse(IntEnum):
    SUCCESS = 1
    OP_CODE_NOT_SUPPORTED = 2
    INVALID_OPERAND = 3
    PROCEDURE_NOT_COMPLETED = 4
    PARAMETER_OUT_OF_RANGE = 5


Operand = Literal["none", "interval", "level", "calibration", "record", "response"]

OPERANDS: Final[dict[int, Operand]] = {
    SocpOpCode.SET_COMMUNICATION_INTERVAL: "interval",
    SocpOpCode.COMMUNICATION_INTERVAL_RESPONSE: "interval",
    SocpOpCode.SET_CALIBRATION_VALUE: "calibration",
    SocpOpCode.GET_CALIBRATION_VALUE: "record",
    SocpOpCode.CALIBRATION_VALUE_RESPONSE: "calibration",
    **dict.fromkeys((7, 9, 10, 12, 13, 15, 16, 18, 19, 21, 22, 24), "level"),
    SocpOpCode.RESPONSE_CODE: "response",
}
"""Op code → operand kind; op codes not listed (the "get" requests, reset, start, stop)
carry none."""
OPERAND_SIZE: Final[dict[Operand, int]] = {
    "none": 0,
    "interval": 1,
    "level": 2,
    "calibration": 10,
    "record": 2,
    "response": 2,
}
INTERVAL_OFF: Final = 0
"""Communication interval 0: periodic notifications off."""
INTERVAL_FASTEST: Final = 0xFF
"""Communication interval 0xFF: as fast as the sensor can."""
LAST_CALIBRATION: Final = 0xFFFF
"""Calibration record number asking for the last one."""

CALIBRATION_STATUS: Final = FlagTable.bits(
    "calibration status",
    [(0, "rejected"), (1, "out_of_range"), (2, "pending")],
)


@dataclass(frozen=True, slots=True)
class CgmCalibration:
    """A calibration record (CGMS 1.0.1, calibration value): glucose mg/dL, when (minutes since session
    start), the sample, when the next is due (minutes), its number and status."""

    glucose: float | None
    time_offset_min: int
    cgm_type: CgmType | int
    sample_location: CgmSampleLocation | int
    next_calibration_min: int
    record_number: int
    status: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CgmControlPoint:
    """A request or response; only the fields its op code carries are set."""

    op_code: SocpOpCode | int
    interval_min: int | None = None
    level: float | None = None
    """An alert level: mg/dL, or mg/dL/min for the rate alerts (None: NaN)."""
    calibration: CgmCalibration | None = None
    record_number: int | None = None
    request_op_code: SocpOpCode | int | None = None
    response: SocpResponse | int | None = None
    operand: bytes = b""
    """The raw operand of an op code this version does not know."""
    crc: bool = False

    @property
    def operand_kind(self) -> Operand | None:
        """The operand this op code carries; None for an unknown op code."""
        if not isinstance(self.op_code, SocpOpCode):
            return None
        return OPERANDS.get(self.op_code, "none")

    @property
    def ok(self) -> bool:
        return self.response is SocpResponse.SUCCESS

    def readings(self) -> list[ProfileReading]:
        return []


def _calibration(cur: Cursor) -> CgmCalibration:
    glucose = cur.sfloat("calibration glucose")
    when = cur.u16("calibration time")
    packed = cur.u8("calibration type-sample location")
    next_min = cur.u16("next calibration time")
    number = cur.u16("calibration record number")
    status = CALIBRATION_STATUS.decode(cur.u8("calibration status") & 0x07)
    return CgmCalibration(
        glucose,
        when,
        known(CgmType, packed & 0x0F),
        known(CgmSampleLocation, packed >> 4),
        next_min,
        number,
        status,
    )


def decode_cgm_control_point(data: bytes) -> CgmControlPoint:
    data = bytes(data)
    cur = Cursor(SOCP_NAME, data)
    op = known(SocpOpCode, cur.u8("op code"))
    if not isinstance(op, SocpOpCode):
        return CgmControlPoint(op, operand=cur.rest())
    kind = OPERANDS.get(op, "none")
    size = 1 + OPERAND_SIZE[kind]
    if len(data) not in (size, size + 2):
        raise ProfileError(
            f"{SOCP_NAME}: {op.name} takes {size} byte(s), or {size + 2} with E2E-CRC; "
            f"value has {len(data)}"
        )
    crc = len(data) == size + 2
    if crc:
        check_crc(SOCP_NAME, data[:size], int.from_bytes(data[size:], "little"))
    fields: dict[str, object] = {}
    if kind == "interval":
        fields["interval_min"] = cur.u8("communication interval")
    elif kind == "level":
        fields["level"] = cur.sfloat("alert level")
    elif kind == "calibration":
        fields["calibration"] = _calibration(cur)
    elif kind == "record":
        fields["record_number"] = cur.u16("calibration record number")
    elif kind == "response":
        fields["request_op_code"] = known(SocpOpCode, cur.u8("request op code"))
        fields["response"] = known(SocpResponse, cur.u8("response code"))
    return CgmControlPoint(op, crc=crc, **fields)  # type: ignore[arg-type]
