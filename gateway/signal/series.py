"""The array shape every signal stage passes on: a time-ordered series of (time, value, usable).

Times are UTC seconds since the Unix epoch (float64), values are in the metric's canonical
unit (``gateway.wire.CANONICAL_UNITS``), ``usable`` is False where a sample must not drive an
alert (device flag, cleaning rejection). Samples are never dropped between stages: a rejected
sample stays in the arrays, marked, so it can be shown as evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

F64 = NDArray[np.float64]
Bool = NDArray[np.bool_]

MINUTE: Final = 60.0
HOUR: Final = 3600.0
DAY: Final = 86400.0


class SignalError(ValueError):
    """Input the signal code cannot give a defined answer for; the message says what to fix."""


def to_epoch(ts: datetime) -> float:
    """Aware datetime → UTC epoch seconds; naive datetimes are refused (their zone is unknown)."""
    if ts.tzinfo is None:
        raise SignalError(
            f"timestamp {ts.isoformat()} has no time zone; send UTC (ISO 8601 with Z)"
        )
    return ts.timestamp()


def from_epoch(t: float) -> datetime:
    """UTC epoch seconds → aware UTC datetime."""
    return datetime.fromtimestamp(t, tz=UTC)


def iso(t: float) -> str:
    """UTC epoch seconds → ISO 8601 with ``Z`` (the wire format)."""
    return from_epoch(t).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True, eq=False)
class Series:
    """Samples of one metric of one patient, sorted by time, times unique.

    ``t``: UTC epoch seconds; ``v``: canonical unit, may hold NaN/inf (then ``usable`` is
    False); ``usable``: the sample may drive alerts. All three have the same length.
    """

    t: F64
    v: F64
    usable: Bool

    def __post_init__(self) -> None:
        if not (self.t.shape == self.v.shape == self.usable.shape) or self.t.ndim != 1:
            raise SignalError(
                f"t, v and usable must be 1-D and of one length, got "
                f"{self.t.shape}, {self.v.shape}, {self.usable.shape}"
            )

    def __len__(self) -> int:
        return int(self.t.shape[0])

    @classmethod
    def of(
        cls, t: ArrayLike, v: ArrayLike, usable: ArrayLike | None = None, *, presorted: bool = False
    ) -> Series:
        """Build a series from any array-likes: sorts by time and keeps the first of duplicates.

        Non-finite times are refused (they cannot be placed); non-finite values are kept and
        marked unusable.
        """
        tt = np.asarray(t, dtype=np.float64).ravel()
        vv = np.asarray(v, dtype=np.float64).ravel()
        uu = (
            np.ones(tt.shape, dtype=np.bool_)
            if usable is None
            else np.asarray(usable, dtype=np.bool_).ravel()
        )
        if not (tt.shape == vv.shape == uu.shape):
            raise SignalError(f"t, v and usable differ in length: {tt.size}, {vv.size}, {uu.size}")
        if not np.isfinite(tt).all():
            raise SignalError("timestamps must be finite UTC epoch seconds")
        if not presorted and tt.size > 1 and not (np.diff(tt) > 0).all():
            order = np.argsort(tt, kind="stable")
            tt, vv, uu = tt[order], vv[order], uu[order]
            keep = np.concatenate(([True], np.diff(tt) > 0))
            tt, vv, uu = tt[keep], vv[keep], uu[keep]
        return cls(tt, vv, uu & np.isfinite(vv))

    @classmethod
    def empty(cls) -> Series:
        return cls(np.empty(0), np.empty(0), np.empty(0, dtype=np.bool_))

    def select(self, mask: Bool) -> Series:
        """The samples where ``mask`` is True (a copy)."""
        return Series(self.t[mask], self.v[mask], self.usable[mask])

    def latest(self, now: float) -> tuple[float, float] | None:
        """The last usable (time, value) at or before ``now``, or None."""
        s = self.until(now)
        idx = np.flatnonzero(s.usable)
        return (float(s.t[idx[-1]]), float(s.v[idx[-1]])) if idx.size else None

    def until(self, now: float) -> Series:
        """The samples at or before ``now`` (later ones are not known yet)."""
        end = int(np.searchsorted(self.t, now, side="right"))
        return Series(self.t[:end], self.v[:end], self.usable[:end])
