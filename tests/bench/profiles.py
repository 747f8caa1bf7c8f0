"""Decode throughput per characteristic, against a plain hand-written ``struct`` decoder.

``python -m tests.bench profiles``. For each characteristic a representative value (every
optional field present where the layout has them) is decoded with
``gateway.ble.profiles.decode`` and with a minimal ``struct`` decoder of the same layout,
measured in the same run. The baseline checks nothing (no reserved bits, no lengths, no
calendar) and returns a tuple, so ``ratio`` (ours / baseline, higher is better) shows
what validation, exact decimals and frozen dataclasses cost.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from gateway.ble.profiles import decode
from tests.bench._common import Figure, best_of

STAMP = "ea070b17081e0f"
LOOPS = 2_000

_u8 = struct.Struct("<B").unpack_from
_u16 = struct.Struct("<H").unpack_from
_s16 = struct.Struct("<h").unpack_from
_u32 = struct.Struct("<I").unpack_from
_dt = struct.Struct("<HBBBBB").unpack_from


def _sf(raw: int) -> float:
    mantissa = raw & 0x0FFF
    exponent = raw >> 12
    mantissa = mantissa - 0x1000 if mantissa >= 0x800 else mantissa
    exponent = exponent - 16 if exponent >= 8 else exponent
    return mantissa * 10.0**exponent


def _fl(raw: int) -> float:
    mantissa = raw & 0xFFFFFF
    exponent = raw >> 24
    mantissa = mantissa - 0x1000000 if mantissa >= 0x800000 else mantissa
    exponent = exponent - 256 if exponent >= 128 else exponent
    return mantissa * 10.0**exponent


def hr(d: bytes) -> Any:
    flags = d[0]
    if flags & 1:
        (value,) = _u16(d, 1)
        pos = 3
    else:
        value, pos = d[1], 2
    energy = None
    if flags & 8:
        (energy,) = _u16(d, pos)
        pos += 2
    rr = struct.unpack_from(f"<{(len(d) - pos) // 2}H", d, pos) if flags & 16 else ()
    return value, flags & 6, energy, [r / 1024 for r in rr]


def bp(d: bytes) -> Any:
    flags = d[0]
    sys_, dia, mean = (_sf(v) for v in struct.unpack_from("<3H", d, 1))
    pos = 7
    stamp = pulse = user = status = None
    if flags & 2:
        stamp, pos = _dt(d, pos), pos + 7
    if flags & 4:
        pulse, pos = _sf(_u16(d, pos)[0]), pos + 2
    if flags & 8:
        user, pos = d[pos], pos + 1
    if flags & 16:
        (status,) = _u16(d, pos)
    return sys_, dia, mean, flags & 1, stamp, pulse, user, status


def temp(d: bytes) -> Any:
    flags = d[0]
    value = _fl(_u32(d, 1)[0])
    pos, stamp, kind = 5, None, None
    if flags & 2:
        stamp, pos = _dt(d, pos), pos + 7
    if flags & 4:
        kind = d[pos]
    return value, flags & 1, stamp, kind


def plx_spot(d: bytes) -> Any:
    flags = d[0]
    spo2, pr = (_sf(v) for v in struct.unpack_from("<2H", d, 1))
    pos, stamp, status, device, pai = 5, None, None, None, None
    if flags & 1:
        stamp, pos = _dt(d, pos), pos + 7
    if flags & 2:
        status, pos = _u16(d, pos)[0], pos + 2
    if flags & 4:
        device, pos = int.from_bytes(d[pos : pos + 3], "little"), pos + 3
    if flags & 8:
        pai = _sf(_u16(d, pos)[0])
    return spo2, pr, stamp, status, device, pai


def plx_cont(d: bytes) -> Any:
    flags = d[0]
    values = [_sf(v) for v in struct.unpack_from("<2H", d, 1)]
    pos = 5
    for bit in (1, 2):
        if flags & bit:
            values += [_sf(v) for v in struct.unpack_from("<2H", d, pos)]
            pos += 4
    status = device = pai = None
    if flags & 4:
        status, pos = _u16(d, pos)[0], pos + 2
    if flags & 8:
        device, pos = int.from_bytes(d[pos : pos + 3], "little"), pos + 3
    if flags & 16:
        pai = _sf(_u16(d, pos)[0])
    return values, status, device, pai


def weight(d: bytes) -> Any:
    flags = d[0]
    (raw,) = _u16(d, 1)
    value = raw * (0.01 if flags & 1 else 0.005)
    pos, stamp, user, bmi, height = 3, None, None, None, None
    if flags & 2:
        stamp, pos = _dt(d, pos), pos + 7
    if flags & 4:
        user, pos = d[pos], pos + 1
    if flags & 8:
        b, h = struct.unpack_from("<2H", d, pos)
        bmi, height = b * 0.1, h * (0.1 if flags & 1 else 0.001)
    return value, stamp, user, bmi, height


def body_comp(d: bytes) -> Any:
    flags, fat = struct.unpack_from("<2H", d, 0)
    pos, out = 4, [fat * 0.1]
    if flags & 2:
        out.append(_dt(d, pos))
        pos += 7
    if flags & 4:
        out.append(d[pos])
        pos += 1
    for bit in range(3, 12):
        if flags & (1 << bit):
            out.append(_u16(d, pos)[0])
            pos += 2
    return out


def glucose(d: bytes) -> Any:
    flags = d[0]
    (seq,) = _u16(d, 1)
    stamp = _dt(d, 3)
    pos, offset, conc, kind, status = 10, None, None, None, None
    if flags & 1:
        offset, pos = _s16(d, pos)[0], pos + 2
    if flags & 2:
        conc, kind, pos = _sf(_u16(d, pos)[0]), d[pos + 2], pos + 3
    if flags & 8:
        (status,) = _u16(d, pos)
    return seq, stamp, offset, conc, kind, status


def context(d: bytes) -> Any:
    flags = d[0]
    (seq,) = _u16(d, 1)
    pos, out = 3, [seq]
    if flags & 0x80:
        pos += 1
    if flags & 1:
        out += [d[pos], _sf(_u16(d, pos + 1)[0])]
        pos += 3
    for bit, size in ((2, 1), (4, 1), (8, 3)):
        if flags & bit:
            out.append(d[pos : pos + size])
            pos += size
    if flags & 0x10:
        out += [d[pos], _sf(_u16(d, pos + 1)[0])]
        pos += 3
    if flags & 0x40:
        out.append(_sf(_u16(d, pos)[0]))
    return out


def plx_features(d: bytes) -> Any:
    (features,) = _u16(d, 0)
    status = _u16(d, 2)[0] if features & 1 else None
    device = int.from_bytes(d[4:7], "little") if features & 2 else None
    return features, status, device


CASES: list[tuple[int, str, str, Callable[[bytes], Any]]] = [
    (0x2A37, "Heart Rate Measurement", "194800" + "2c01" + "000418032003", hr),
    (0x2A38, "Body Sensor Location", "01", lambda d: d[0]),
    (0x2A35, "Blood Pressure Measurement", "1e780050005d00" + STAMP + "4800010500", bp),
    (0x2A36, "Intermediate Cuff Pressure", "042800ff07ff074800", bp),
    (0x2A49, "Blood Pressure Feature", "3f00", lambda d: _u16(d, 0)),
    (0x2A1C, "Temperature Measurement", "07da0300ff" + STAMP + "06", temp),
    (0x2A1E, "Intermediate Temperature", "008d0e00fe", temp),
    (0x2A1D, "Temperature Type", "02", lambda d: d[0]),
    (0x2A5E, "PLX Spot-Check", "0f61004800" + STAMP + "8000" + "002000" + "19f0", plx_spot),
    (0x2A5F, "PLX Continuous", "1f5f0050005e00520060004e008000" + "002000" + "19f0", plx_cont),
    (0x2A60, "PLX Features", "0300e0ffffff00", plx_features),
    (0x2A9D, "Weight Measurement", "0e5c36" + STAMP + "02e200db06", weight),
    (0x2A9E, "Weight Scale Feature", "bf010000", lambda d: _u32(d, 0)),
    (0x2A9C, "Body Composition", "1e0ceb00" + STAMP + "016419" + "6001a438a906", body_comp),
    (0x2A18, "Glucose Measurement", "0b0100" + STAMP + "fbff65b0110108", glucose),
    (0x2A34, "Glucose Context", "5f07000105e00251080732" + "0104a041f0", context),
    (0x2A52, "Record Access Control Point", "06000101", lambda d: struct.unpack("<4B", d)),
    (0x2A08, "Date Time", STAMP, lambda d: _dt(d, 0)),
    (0x2A2B, "Current Time", STAMP + "018001", lambda d: struct.unpack("<HBBBBBBBB", d)),
    (0x2A19, "Battery Level", "64", lambda d: d[0]),
    (0x2A29, "Manufacturer Name String", "566974616c47617465", lambda d: d.decode()),
]
"""(characteristic, name, representative value, struct baseline)."""


def _repeat(fn: Callable[[bytes], Any], data: bytes, loops: int) -> Callable[[], None]:
    def go() -> None:
        for _ in range(loops):
            fn(data)

    return go


def _rate(fn: Callable[[], object], loops: int) -> float:
    return loops / best_of(fn)


def run(loops: int = LOOPS) -> Iterator[Figure]:
    """One figure per characteristic, then the geometric mean of the ratios."""
    ratios: list[float] = []
    for uuid, name, hex_, baseline in CASES:
        data = bytes.fromhex(hex_)
        decode(uuid, data)  # valid, and warm
        baseline(data)
        ours = _rate(_repeat(partial(decode, uuid), data, loops), loops)
        plain = _rate(_repeat(baseline, data, loops), loops)
        ratios.append(ours / plain)
        yield Figure(
            "profiles",
            round(ours),
            "decodes/s",
            baseline=round(plain),
            ratio=round(ours / plain, 3),
            extra={"characteristic": f"0x{uuid:04X}", "name": name, "bytes": len(data)},
        )
    geo = 1.0
    for r in ratios:
        geo *= r
    yield Figure(
        "profiles",
        round(geo ** (1 / len(ratios)), 3),
        "geometric mean ratio",
        extra={"characteristic": "all", "count": len(ratios)},
    )
