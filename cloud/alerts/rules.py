"""The cloud's default threshold rules, as data.

These fixed rules are the walking skeleton's; per-patient and per-program rules evaluated by
``gateway.signal`` replace them. Levels follow the NEWS2 (RCP 2017) pulse bands: ≥ 131 /min
scores 3 and 111–130 scores 2; ≤ 40 scores 3.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from gateway.wire import Category, Metric, Priority


@dataclass(frozen=True, slots=True)
class FixedRule:
    rule_id: str
    version: int
    metric: Metric
    priority: Priority
    title: str
    fire_high: float | None = None
    clear_high: float | None = None
    fire_low: float | None = None
    clear_low: float | None = None
    persistence_count: int = 1
    category: Category = Category.CLINICAL

    def fires(self, value: float) -> bool:
        return (self.fire_high is not None and value > self.fire_high) or (
            self.fire_low is not None and value < self.fire_low
        )

    def cleared(self, value: float) -> bool:
        """Back inside the clear levels (hysteresis: stricter than the fire levels)."""
        high = self.clear_high if self.clear_high is not None else self.fire_high
        low = self.clear_low if self.clear_low is not None else self.fire_low
        return (high is None or value <= high) and (low is None or value >= low)

    def worse(self, a: float, b: float) -> float:
        """The more abnormal of two values for this rule."""
        if self.fire_high is not None and self.fire_low is None:
            return max(a, b)
        if self.fire_low is not None and self.fire_high is None:
            return min(a, b)
        return a if abs(a) >= abs(b) else b


DEFAULT_RULES: Final = (
    FixedRule(
        rule_id="heart_rate_high",
        version=1,
        metric=Metric.HEART_RATE,
        priority=Priority.MEDIUM,
        title="High heart rate",
        fire_high=120.0,
        clear_high=110.0,
        persistence_count=3,
    ),
    FixedRule(
        rule_id="heart_rate_low",
        version=1,
        metric=Metric.HEART_RATE,
        priority=Priority.HIGH,
        title="Low heart rate",
        fire_low=40.0,
        clear_low=45.0,
        persistence_count=3,
    ),
)
