"""Hypothesis strategies for the CGM characteristics (see ``strategies.py``)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from gateway.ble.profiles import (
    CgmCalibration,
    CgmControlPoint,
    CgmFeature,
    CgmMeasurement,
    CgmRecord,
    CgmSessionRunTime,
    CgmSessionStartTime,
    CgmStatus,
    DateTime,
    cgm,
    cgm_session,
)
from gateway.ble.profiles.cgm import CgmSampleLocation, CgmType
from gateway.ble.profiles.cgm_control import (
    CALIBRATION_STATUS,
    OPERANDS,
    SocpOpCode,
    SocpResponse,
)
from gateway.ble.profiles.cgm_session import DstOffset
from gateway.ble.profiles.ieee11073 import SFLOAT_SPECIALS, sfloat_value

U8 = st.integers(0, 0xFF)
U16 = st.integers(0, 0xFFFF)
SFLOATS = st.integers(0, 0xFFFF).filter(lambda raw: raw not in SFLOAT_SPECIALS).map(sfloat_value)
MAYBE_SFLOAT = st.none() | SFLOATS


def names(table: Any) -> st.SearchStrategy[tuple[str, ...]]:
    return st.lists(st.sampled_from(table.names), unique=True).map(
        lambda chosen: table.decode(table.encode(chosen))
    )


def _types() -> st.SearchStrategy[CgmType | int]:
    return st.sampled_from(CgmType) | st.sampled_from([0, 11, 15])


def _locations() -> st.SearchStrategy[CgmSampleLocation | int]:
    return st.sampled_from(CgmSampleLocation) | st.sampled_from([0, 6, 14])


RECORDS = st.builds(
    CgmRecord,
    MAYBE_SFLOAT,
    U16,
    st.none() | names(cgm.STATUS_OCTET),
    st.none() | names(cgm.CAL_TEMP_OCTET),
    st.none() | names(cgm.WARNING_OCTET),
    MAYBE_SFLOAT,
    MAYBE_SFLOAT,
    st.booleans(),
)


@st.composite
def start_times(draw: st.DrawFn) -> CgmSessionStartTime:
    year = draw(st.integers(1583, 9998) | st.just(0))
    start = DateTime(
        year,
        draw(st.integers(1, 12)) if year else 0,
        draw(st.integers(1, 28)) if year else 0,
        draw(st.integers(0, 23)),
        draw(st.integers(0, 59)),
        draw(st.integers(0, 59)),
    )
    zone = draw(st.none() | st.integers(-48, 56))
    dst = draw(st.none() | st.sampled_from(DstOffset) | st.sampled_from([1, 3, 9]))
    return CgmSessionStartTime(start, zone, dst, draw(st.booleans()))


CALIBRATIONS = st.builds(
    CgmCalibration, MAYBE_SFLOAT, U16, _types(), _locations(), U16, U16, names(CALIBRATION_STATUS)
)


@st.composite
def control_points(draw: st.DrawFn) -> CgmControlPoint:
    op = draw(st.sampled_from(SocpOpCode) | st.integers(29, 255))
    if not isinstance(op, SocpOpCode):
        return CgmControlPoint(op, operand=draw(st.binary(max_size=12)))
    kind = OPERANDS.get(op, "none")
    fields: dict[str, Any] = {"crc": draw(st.booleans())}
    if kind == "interval":
        fields["interval_min"] = draw(U8)
    elif kind == "level":
        fields["level"] = draw(MAYBE_SFLOAT)
    elif kind == "calibration":
        fields["calibration"] = draw(CALIBRATIONS)
    elif kind == "record":
        fields["record_number"] = draw(U16)
    elif kind == "response":
        fields["request_op_code"] = draw(st.sampled_from(SocpOpCode) | st.integers(29, 255))
        fields["response"] = draw(st.sampled_from(SocpResponse) | st.integers(6, 255))
    return CgmControlPoint(op, **fields)


CGM_STRATEGIES: dict[int, st.SearchStrategy[Any]] = {
    0x2AA7: st.lists(RECORDS, min_size=1, max_size=4).map(
        lambda records: CgmMeasurement(tuple(records))
    ),
    0x2AA8: st.builds(CgmFeature, names(cgm_session.FEATURES), _types(), _locations()),
    0x2AA9: st.builds(
        CgmStatus,
        U16,
        names(cgm.STATUS_OCTET),
        names(cgm.CAL_TEMP_OCTET),
        names(cgm.WARNING_OCTET),
        st.booleans(),
    ),
    0x2AAA: start_times(),
    0x2AAB: st.builds(CgmSessionRunTime, U16, st.booleans()),
    0x2AAC: control_points(),
}
