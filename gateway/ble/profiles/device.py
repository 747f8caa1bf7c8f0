"""Device-level characteristics: Date Time 0x2A08, Current Time 0x2A2B (decode and encode,
to set a device's clock), Battery Level 0x2A19 and Device Information strings.

Current Time (Current Time Service 1.1 §3.1; GATT Specification Supplement §3.62): Date Time
(7 bytes) | day of week u8 (0 unknown, 1 Monday … 7 Sunday) | fractions256 u8 |
adjust reason u8 (bit 0 manual, 1 external reference, 2 time zone, 3 DST; 4–7 reserved, ignored).
A day of week 8–255 is reserved and reads as 0, "unknown".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from gateway.ble.profiles.base import (
    Cursor,
    DateTime,
    FlagTable,
    ProfileError,
    ProfileReading,
    Timed,
)
from gateway.wire import Metric

DATE_TIME_NAME = "Date Time (0x2A08)"
CURRENT_TIME_NAME = "Current Time (0x2A2B)"
BATTERY_NAME = "Battery Level (0x2A19)"

ADJUST_REASON: Final = FlagTable.bits(
    "adjust reason",
    [(0, "manual_time_update"), (1, "external_reference"), (2, "time_zone_change"), (3, "dst")],
)


@dataclass(frozen=True, slots=True)
class DateTimeValue(Timed):
    time_stamp: DateTime

    def readings(self) -> list[ProfileReading]:
        return []


def decode_date_time(data: bytes) -> DateTimeValue:
    cur = Cursor(DATE_TIME_NAME, data)
    value = cur.date_time("date time")
    cur.done()
    return DateTimeValue(value)


@dataclass(frozen=True, slots=True)
class CurrentTime(Timed):
    time_stamp: DateTime
    day_of_week: int = 0
    """1 Monday … 7 Sunday; 0 unknown."""
    fractions256: int = 0
    adjust_reason: tuple[str, ...] = ()

    @property
    def precise(self) -> datetime | None:
        """The clock reading (as UTC) including the 1/256 s fraction."""
        base = self.timestamp
        return None if base is None else base + timedelta(seconds=self.fractions256 / 256)

    def readings(self) -> list[ProfileReading]:
        return []


def decode_current_time(data: bytes) -> CurrentTime:
    cur = Cursor(CURRENT_TIME_NAME, data)
    stamp = cur.date_time("date time")
    weekday = cur.u8("day of week")
    if weekday > 7:
        weekday = 0  # reserved: treated as unknown
    fraction = cur.u8("fractions256")
    reason = cur.flags(ADJUST_REASON)
    cur.done()
    return CurrentTime(stamp, weekday, fraction, reason)


def current_time_of(moment: datetime, *, adjust_reason: tuple[str, ...] = ()) -> CurrentTime:
    """The Current Time a device should show at ``moment`` (converted to UTC, VitalGate's
    convention for device clocks)."""
    utc = moment.astimezone(UTC)
    return CurrentTime(
        DateTime.of(utc),
        day_of_week=utc.isoweekday(),
        fractions256=utc.microsecond * 256 // 1_000_000,
        adjust_reason=adjust_reason,
    )


def encode_date_time(value: DateTime) -> bytes:
    return value.year.to_bytes(2, "little") + bytes(
        [value.month, value.day, value.hours, value.minutes, value.seconds]
    )


def encode_current_time(value: CurrentTime) -> bytes:
    """The 10 bytes the gateway writes to 0x2A2B to set a device's clock."""
    return encode_date_time(value.time_stamp) + bytes(
        [value.day_of_week, value.fractions256, ADJUST_REASON.encode(value.adjust_reason)]
    )


@dataclass(frozen=True, slots=True)
class BatteryLevel:
    percent: int

    @property
    def timestamp(self) -> None:
        return None

    def readings(self) -> list[ProfileReading]:
        return [ProfileReading(Metric.BATTERY_LEVEL, float(self.percent), "%")]


def decode_battery_level(data: bytes) -> BatteryLevel:
    cur = Cursor(BATTERY_NAME, data)
    level = cur.u8("battery level")
    cur.done()
    if level > 100:
        raise ProfileError(f"{BATTERY_NAME}: {level} % is above 100")
    return BatteryLevel(level)


@dataclass(frozen=True, slots=True)
class DeviceString:
    """A Device Information string (manufacturer, model, serial, revisions)."""

    characteristic: str
    text: str

    def readings(self) -> list[ProfileReading]:
        return []


def decode_device_string(name: str, data: bytes) -> DeviceString:
    """UTF-8 text; trailing NUL padding (common on real devices) is dropped."""
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProfileError(f"{name}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    return DeviceString(name, text.rstrip("\x00"))
