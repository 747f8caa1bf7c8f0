"""Live evaluation on the gateway: windows in, new findings out, state carried between calls.

The stateful wrapper around the pure pieces: it owns the bounded windows and, per rule,
the state and the time of the last evaluation, and calls the same ``rules.evaluate`` that
replay uses, with ``since`` so that each finding is reported once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from numpy.typing import ArrayLike

from gateway import wire
from gateway.signal.clean import clean
from gateway.signal.findings import Finding, RuleState
from gateway.signal.rules import Rule, evaluate, sort_findings
from gateway.signal.window import Appended, Windows


@dataclass(slots=True)
class Monitor:
    """Rules for one gateway's patients, evaluated as samples arrive."""

    rules: Sequence[Rule | wire.ThresholdRule]
    windows: Windows = field(default_factory=Windows)
    _state: dict[int, RuleState] = field(default_factory=dict, init=False)
    _since: dict[int, float] = field(default_factory=dict, init=False)

    def ingest(
        self,
        patient_id: str,
        metric: wire.Metric,
        t: ArrayLike,
        v: ArrayLike,
        usable: ArrayLike | None = None,
        *,
        now: float,
    ) -> tuple[Appended, tuple[Finding, ...]]:
        """Store samples, then evaluate the rules of that patient and metric at ``now``."""
        appended = self.windows.get(patient_id, metric).extend(t, v, usable, now=now)
        return appended, self.evaluate(patient_id, metric, now=now)

    def evaluate(self, patient_id: str, metric: wire.Metric, *, now: float) -> tuple[Finding, ...]:
        """New findings for this patient and metric (call it without samples for stale data)."""
        series = clean(self.windows.get(patient_id, metric).series(), metric, now=now).series
        found: list[Finding] = []
        for i, rule in enumerate(self.rules):
            if rule.patient_id != patient_id or rule.metric != metric:
                continue
            result = evaluate(
                rule, series, now=now, since=self._since.get(i), state=self._state.get(i)
            )
            self._state[i], self._since[i] = result.state, now
            found += result.findings
        return sort_findings(found)
