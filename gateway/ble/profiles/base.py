"""Shared pieces of the profile decoders: the error, the reading type, byte cursors."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.wire import CANONICAL_UNITS, Metric


class ProfileError(ValueError):
    """Bytes that do not follow the characteristic's layout; the message names both."""


@dataclass(frozen=True, slots=True)
class ProfileReading:
    """One value of a decoded measurement in the canonical unit of its metric."""

    metric: Metric
    value: float
    source_unit: str | None = None

    @property
    def unit(self) -> str:
        return CANONICAL_UNITS[self.metric]


class Cursor:
    """Reads little-endian fields from a characteristic value, raising ProfileError when short."""

    __slots__ = ("_data", "_name", "pos")

    def __init__(self, name: str, data: bytes) -> None:
        self._name = name
        self._data = bytes(data)
        self.pos = 0

    def _take(self, size: int, what: str) -> bytes:
        end = self.pos + size
        if end > len(self._data):
            raise ProfileError(
                f"{self._name}: truncated: {what} needs bytes {self.pos}..{end - 1}, "
                f"value has {len(self._data)}"
            )
        chunk = self._data[self.pos : end]
        self.pos = end
        return chunk

    def u8(self, what: str) -> int:
        return self._take(1, what)[0]

    def u16(self, what: str) -> int:
        return int.from_bytes(self._take(2, what), "little")

    def remaining(self) -> int:
        return len(self._data) - self.pos

    def done(self) -> None:
        """Refuse trailing bytes: an over-long value is as suspect as a short one."""
        if self.pos != len(self._data):
            raise ProfileError(
                f"{self._name}: {len(self._data) - self.pos} unexpected trailing byte(s)"
            )
