"""US remote-monitoring billing readiness (CMS 2026), as pure functions of a month's facts.

Device supply: 99454 needs readings on 16–30 days of the 30-day period, 99445 on 2–15
days. Treatment management time per calendar month: 99470 for the first 10 minutes,
99457 for the first 20, and 99458 for each further full 20 minutes; each needs at least one
interactive communication with the patient in the month. (docs/architecture.md, "Clinical references".)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

PERIOD_DAYS: Final = 30
DAYS_99454: Final = 16
DAYS_99445: Final = 2
MINUTES_99470: Final = 10
MINUTES_99457: Final = 20
MINUTES_99458: Final = 20


@dataclass(frozen=True, slots=True)
class SupplyStatus:
    days_with_data: int
    days_left: int
    code: str | None
    """The code the period earns as of now: ``99454``, ``99445`` or None."""
    can_reach_99454: bool
    projected_days: float
    """Days with data at the end of the period if the patient keeps their pace so far."""

    @property
    def at_risk(self) -> bool:
        """Will miss 16 days at the current pace, although it is still possible."""
        return (
            self.can_reach_99454
            and self.days_with_data < DAYS_99454
            and (self.projected_days < DAYS_99454)
        )


def supply_status(data_days: Iterable[date], *, period_start: date, today: date) -> SupplyStatus:
    """Where a patient stands in a 30-day device-supply period starting ``period_start``."""
    end = period_start + timedelta(days=PERIOD_DAYS)
    days = {d for d in data_days if period_start <= d < end and d <= today}
    elapsed = min(PERIOD_DAYS, max(1, (today - period_start).days + 1))
    left = PERIOD_DAYS - elapsed
    n = len(days)
    code = "99454" if n >= DAYS_99454 else "99445" if n >= DAYS_99445 else None
    projected = n + left * (n / elapsed)
    return SupplyStatus(n, left, code, n + left >= DAYS_99454, round(projected, 1))


def management_codes(minutes: float, *, interactive_communication: bool) -> list[str]:
    """Codes a month of logged clinician time earns (empty without an interactive contact)."""
    if not interactive_communication or minutes < MINUTES_99470:
        return []
    if minutes < MINUTES_99457:
        return ["99470"]
    extra = int((minutes - MINUTES_99457) // MINUTES_99458)
    return ["99457"] + ["99458"] * extra
