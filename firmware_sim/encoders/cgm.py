"""Encoders for the Continuous Glucose Monitoring Service (inverse of
``gateway.ble.profiles.cgm`` and ``cgm_control``); a value whose ``crc`` is set gets its
E2E-CRC appended, as a sensor whose CGM Feature has bit 12 does."""

from __future__ import annotations

from firmware_sim.encoders.numbers import date_time, sfloat, u8, u16, u24
from gateway.ble.profiles import cgm, cgm_session
from gateway.ble.profiles.cgm import CgmMeasurement, CgmRecord, e2e_crc
from gateway.ble.profiles.cgm_control import (
    CALIBRATION_STATUS,
    OPERAND_SIZE,
    CgmCalibration,
    CgmControlPoint,
)
from gateway.ble.profiles.cgm_session import (
    CgmFeature,
    CgmSessionRunTime,
    CgmSessionStartTime,
    CgmStatus,
)


def with_crc(body: bytes, crc: bool) -> bytes:
    """``body``, followed by its E2E-CRC (little-endian) when ``crc``."""
    return body + u16(e2e_crc(body)) if crc else body


def encode_cgm_record(r: CgmRecord) -> bytes:
    """One record, its size field counting itself and the E2E-CRC."""
    flags = 0
    body = sfloat(r.glucose) + u16(r.time_offset_min)
    for bit, table, names in (
        (cgm.FLAG_STATUS, cgm.STATUS_OCTET, r.status),
        (cgm.FLAG_CAL_TEMP, cgm.CAL_TEMP_OCTET, r.cal_temp),
        (cgm.FLAG_WARNING, cgm.WARNING_OCTET, r.warning),
    ):
        if names is not None:
            flags |= bit
            body += u8(table.encode(names))
    if r.trend is not None:
        flags |= cgm.FLAG_TREND
        body += sfloat(r.trend)
    if r.quality is not None:
        flags |= cgm.FLAG_QUALITY
        body += sfloat(r.quality)
    size = 2 + len(body) + (2 if r.crc else 0)
    return with_crc(u8(size) + u8(flags) + body, r.crc)


def encode_cgm_measurement(m: CgmMeasurement) -> bytes:
    """0x2AA7: the records back to back in one notification."""
    if not m.records:
        raise ValueError("a CGM Measurement carries at least one record")
    return b"".join(encode_cgm_record(r) for r in m.records)


def encode_cgm_feature(m: CgmFeature) -> bytes:
    """0x2AA8; the E2E-CRC field is 0xFFFF unless the features include ``e2e_crc``."""
    body = u24(cgm_session.FEATURES.encode(m.features)) + u8(m.sample_location << 4 | m.cgm_type)
    return body + u16(e2e_crc(body) if m.e2e_crc else cgm_session.NO_CRC)


def encode_cgm_status(m: CgmStatus) -> bytes:
    body = u16(m.time_offset_min) + bytes(
        [
            cgm.STATUS_OCTET.encode(m.status),
            cgm.CAL_TEMP_OCTET.encode(m.cal_temp),
            cgm.WARNING_OCTET.encode(m.warning),
        ]
    )
    return with_crc(body, m.crc)


def encode_cgm_session_start_time(m: CgmSessionStartTime) -> bytes:
    zone = cgm_session.TIME_ZONE_UNKNOWN if m.time_zone is None else m.time_zone
    dst = cgm_session.DST_UNKNOWN if m.dst is None else int(m.dst)
    body = date_time(m.start) + zone.to_bytes(1, "little", signed=True) + u8(dst)
    return with_crc(body, m.crc)


def encode_cgm_session_run_time(m: CgmSessionRunTime) -> bytes:
    return with_crc(u16(m.hours), m.crc)


def _calibration(c: CgmCalibration) -> bytes:
    return (
        sfloat(c.glucose)
        + u16(c.time_offset_min)
        + u8(c.sample_location << 4 | c.cgm_type)
        + u16(c.next_calibration_min)
        + u16(c.record_number)
        + u8(CALIBRATION_STATUS.encode(c.status))
    )


def encode_cgm_control_point(m: CgmControlPoint) -> bytes:
    """0x2AAC, a request or a response; the operand its op code calls for."""
    kind = m.operand_kind
    if kind is None:
        return u8(m.op_code) + m.operand
    operand = b""
    if kind == "interval":
        operand = u8(m.interval_min or 0)
    elif kind == "level":
        operand = sfloat(m.level)
    elif kind == "calibration":
        if m.calibration is None:
            raise ValueError(f"{m.op_code!r} needs a calibration record")
        operand = _calibration(m.calibration)
    elif kind == "record":
        operand = u16(m.record_number or 0)
    elif kind == "response":
        operand = u8(m.request_op_code or 0) + u8(m.response or 0)
    assert len(operand) == OPERAND_SIZE[kind]
    return with_crc(u8(m.op_code) + operand, m.crc)
