"""Rules that fire on an amount of change over a window: the fields and checks shared by
the rate-of-change rule (``rules.RateRule``) and the trend rule (``trends.TrendRule``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from gateway import wire
from gateway.signal.findings import Persistence
from gateway.signal.series import SignalError


@dataclass(frozen=True, slots=True)
class ChangeRule:
    """Fires when the metric rises by ``rise`` or falls by ``fall`` (positive amounts in the
    metric's unit) over ``window_s`` seconds; clears below ``clear_fraction`` of the amount.
    A kind adds its own fields and checks (``sound``) and says what it needs (``NEEDS``)."""

    KIND: ClassVar[str] = "change"
    NEEDS: ClassVar[str] = "needs window_s > 0"

    rule_id: str
    patient_id: str
    metric: wire.Metric
    window_s: float
    rise: float | None = None
    fall: float | None = None
    clear_fraction: float = 1.0
    version: int = 1
    priority: wire.Priority = wire.Priority.MEDIUM
    persistence: Persistence = field(default_factory=Persistence)
    category: wire.Category = wire.Category.CLINICAL

    def __post_init__(self) -> None:
        if self.rise is None and self.fall is None:
            raise SignalError(f"rule {self.rule_id}: a {self.KIND} rule needs rise or fall")
        if not (self.window_s > 0 and self.sound()):
            raise SignalError(f"rule {self.rule_id}: {self.NEEDS}")

    def sound(self) -> bool:
        """The kind's own checks, beyond a positive window and an amount."""
        return True
