"""Shared pieces of the profile decoders: the error, the reading type, byte cursors,
flag tables and the Date Time structure.

Every decoder reads through a ``Cursor`` so that a short value raises ``ProfileError``
(naming the characteristic and the field) and never IndexError or struct.error.
"""

from __future__ import annotations

import calendar
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from enum import IntEnum
from typing import TypeVar

from gateway.ble.profiles.ieee11073 import float_value, sfloat_value
from gateway.wire import CANONICAL_UNITS, Metric

E = TypeVar("E", bound=IntEnum)

_U8 = struct.Struct("<B")
_U16 = struct.Struct("<H")
_S16 = struct.Struct("<h")
_U32 = struct.Struct("<I")
_DATE_TIME = struct.Struct("<HBBBBB")


class ProfileError(ValueError):
    """Bytes that do not follow the characteristic's layout; the message names both."""


class AdvertisementError(ProfileError):
    """An advertisement payload that cannot be read (malformed, or a key that does not fit)."""


@dataclass(frozen=True, slots=True)
class ProfileReading:
    """One value of a decoded measurement in the canonical unit of its metric.

    ``source_unit`` is the UCUM unit the device reported before conversion; ``flags`` are
    the device's status words that apply; ``usable`` is False when one of them makes the
    value unfit for alerts (lost contact, body movement, sensor displaced…).
    """

    metric: Metric
    value: float
    source_unit: str | None = None
    flags: tuple[str, ...] = ()
    usable: bool = True

    @property
    def unit(self) -> str:
        return CANONICAL_UNITS[self.metric]


def converted(value: float, factor: float, offset: float = 0.0) -> float:
    """``(value + offset) × factor``, rounded to 1e-9 so unit conversions give clean figures."""
    return round((value + offset) * factor, 9)


# --- Date Time (GATT Specification Supplement §3.70: 7 bytes) ---------------------------


@dataclass(frozen=True, slots=True)
class DateTime:
    """A device clock reading: no time zone, and 0 means "not known" for year, month, day.

    VitalGate assumes a device clock runs in UTC (the gateway sets it so through Current
    Time); ``to_datetime(tz)`` reads it in another zone when a device keeps local time.
    """

    year: int
    month: int
    day: int
    hours: int = 0
    minutes: int = 0
    seconds: int = 0

    @property
    def known(self) -> bool:
        return bool(self.year and self.month and self.day)

    def to_datetime(self, tz: tzinfo = UTC) -> datetime | None:
        """An aware datetime with the clock read in ``tz``, or None when the date is unknown."""
        if not self.known:
            return None
        return datetime(
            self.year, self.month, self.day, self.hours, self.minutes, self.seconds, tzinfo=tz
        )

    @classmethod
    def of(cls, moment: datetime) -> DateTime:
        """The fields of ``moment`` as a device clock shows them (sub-seconds dropped)."""
        return cls(moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)


_DATE_TIME_LIMITS = (("month", 12), ("day", 31), ("hours", 23), ("minutes", 59), ("seconds", 59))


def check_date_time(name: str, value: DateTime) -> DateTime:
    """Refuse out-of-range fields and impossible calendar dates (31 April)."""
    if (
        1582 <= value.year <= 9999
        and 1 <= value.month <= 12
        and 1 <= value.day <= 28
        and value.hours < 24
        and value.minutes < 60
        and value.seconds < 60
    ):
        return value  # the common case: a plainly valid date
    if value.year and not 1582 <= value.year <= 9999:
        raise ProfileError(f"{name}: year {value.year} outside 1582..9999 (0 = unknown)")
    for field_name, limit in _DATE_TIME_LIMITS:
        if getattr(value, field_name) > limit:
            raise ProfileError(f"{name}: {field_name} {getattr(value, field_name)} > {limit}")
    if value.month and value.day:
        leap_year = value.year or 2000  # an unknown year may be a leap year
        if value.day > calendar.monthrange(leap_year, value.month)[1]:
            raise ProfileError(f"{name}: no day {value.day} in month {value.month}")
    return value


class Timed:
    """Mixin for measurements with a device time stamp in ``time_stamp``."""

    __slots__ = ()
    time_stamp: DateTime | None

    @property
    def timestamp(self) -> datetime | None:
        """The device's time stamp read as UTC (see ``DateTime``), or None if absent/unknown."""
        return self.timestamp_in(UTC)

    def timestamp_in(self, tz: tzinfo) -> datetime | None:
        """The time stamp for a device whose clock runs in ``tz`` (e.g. a fixed local offset)."""
        return None if self.time_stamp is None else self.time_stamp.to_datetime(tz)


def add_minutes(moment: datetime | None, minutes: int) -> datetime | None:
    return None if moment is None else moment + timedelta(minutes=minutes)


# --- Flag tables -------------------------------------------------------------------------


class FlagTable:
    """A status or feature word as a table: ``(mask, match, name)`` rows.

    A single-bit row has ``mask == match``; a multi-bit field (the cuff's pulse-rate range)
    has one row per value. Bits outside every mask, and multi-bit values with no row, are
    reserved for future use: the Core Specification says a receiver ignores them, so they
    decode to no name (a newer device's status word must not sink the whole measurement).
    """

    __slots__ = ("_known", "_memo", "_rows", "what")

    def __init__(self, what: str, rows: Iterable[tuple[int, int, str]]) -> None:
        self.what = what
        self._rows = tuple(rows)
        self._known = 0
        for mask, _, _ in self._rows:
            self._known |= mask
        self._memo: dict[int, tuple[str, ...]] = {}

    @classmethod
    def bits(cls, what: str, names: Iterable[tuple[int, str]]) -> FlagTable:
        """A table of single bits: ``(bit number, name)`` rows."""
        return cls(what, ((1 << bit, 1 << bit, name) for bit, name in names))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for *_, name in self._rows)

    def decode(self, value: int) -> tuple[str, ...]:
        """Names of the set flags, in table order; reserved bits and values are ignored."""
        names = self._memo.get(value)
        if names is None:
            names = tuple(
                name for mask, match, name in self._rows if match and value & mask == match
            )
            if len(self._memo) < 4096:
                self._memo[value] = names
        return names

    def reserved(self, value: int) -> int:
        """The bits of ``value`` outside every row: reserved for future use."""
        return value & ~self._known

    def encode(self, names: Iterable[str]) -> int:
        """The word with the named flags set (the inverse of ``decode``)."""
        by_name = {name: match for _, match, name in self._rows}
        value = 0
        for name in names:
            value |= by_name[name]
        return value


def lookup(enum: type[E], owner: str, what: str, raw: int) -> E:
    """``enum(raw)``, or ProfileError naming the characteristic for a code it cannot act on.

    Only for codes that decide how the rest of the value is laid out (a control point's op
    code); any other reserved code is ``known_or_raw``'s.
    """
    try:
        return enum(raw)
    except ValueError:
        raise ProfileError(f"{owner}: unknown {what} value {raw}") from None


def known_or_raw(enum: type[E], raw: int) -> E | int:
    """``enum(raw)`` for a defined code; a reserved one stays a plain int, meaning "unknown".

    The Core Specification (Vol 1, Part E, reserved for future use) has a receiver treat a
    reserved value as unknown rather than reject the value it came in: a newer device may
    use codes this version does not know.
    """
    try:
        return enum(raw)
    except ValueError:
        return raw


# --- Cursor ------------------------------------------------------------------------------


class Cursor:
    """Reads little-endian fields from a characteristic value, raising ProfileError when short."""

    __slots__ = ("_data", "_name", "pos")

    def __init__(self, name: str, data: bytes) -> None:
        self._name = name
        self._data = bytes(data)
        self.pos = 0

    @property
    def name(self) -> str:
        return self._name

    def _short(self, size: int, what: str) -> ProfileError:
        return ProfileError(
            f"{self._name}: truncated: {what} needs bytes {self.pos}..{self.pos + size - 1}, "
            f"value has {len(self._data)}"
        )

    def _take(self, size: int, what: str) -> bytes:
        end = self.pos + size
        if end > len(self._data):
            raise self._short(size, what)
        chunk = self._data[self.pos : end]
        self.pos = end
        return chunk

    def _unpack(self, fmt: struct.Struct, what: str) -> int:
        try:
            (value,) = fmt.unpack_from(self._data, self.pos)
        except struct.error:
            raise self._short(fmt.size, what) from None
        self.pos += fmt.size
        return int(value)

    def u8(self, what: str) -> int:
        return self._unpack(_U8, what)

    def u16(self, what: str) -> int:
        return self._unpack(_U16, what)

    def s16(self, what: str) -> int:
        return self._unpack(_S16, what)

    def u24(self, what: str) -> int:
        return int.from_bytes(self._take(3, what), "little")

    def u32(self, what: str) -> int:
        return self._unpack(_U32, what)

    def sfloat(self, what: str) -> float | None:
        """An IEEE 11073 SFLOAT; None for NaN, NRes, ±INF and the reserved value."""
        return sfloat_value(self.u16(what))

    def float32(self, what: str) -> float | None:
        """An IEEE 11073 32-bit FLOAT; None for its special values."""
        return float_value(self.u32(what))

    def date_time(self, what: str) -> DateTime:
        try:
            fields = _DATE_TIME.unpack_from(self._data, self.pos)
        except struct.error:
            raise self._short(_DATE_TIME.size, what) from None
        self.pos += _DATE_TIME.size
        year, month, day, hours, minutes, seconds = fields
        return check_date_time(
            f"{self._name}: {what}", DateTime(year, month, day, hours, minutes, seconds)
        )

    def flags(self, table: FlagTable, *, size: int = 1) -> tuple[str, ...]:
        """A status or feature word by name; reserved bits are ignored (see ``FlagTable``)."""
        return table.decode(self.uint(size, table.what))

    def uint(self, size: int, what: str) -> int:
        return int.from_bytes(self._take(size, what), "little")

    def rest(self) -> bytes:
        return self._take(self.remaining(), "rest")

    def remaining(self) -> int:
        return len(self._data) - self.pos

    def done(self, *, future_fields: bool = False) -> None:
        """Refuse trailing bytes: an over-long value is as suspect as a short one.

        ``future_fields``: the flags had a bit reserved for future use set. A newer version
        of the specification appends the field such a bit announces after the defined ones,
        so trailing bytes are then that unknown field and are ignored; the fields before
        them were read at their defined places.
        """
        if self.pos != len(self._data) and not future_fields:
            raise ProfileError(
                f"{self._name}: {len(self._data) - self.pos} unexpected trailing byte(s)"
            )
