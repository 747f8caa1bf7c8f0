"""Live evaluation on the gateway: windows in, new findings out, state carried between calls.

The stateful wrapper around the pure pieces: it owns the bounded windows and, per rule,
the state and the time of the last evaluation, and calls the same ``rules.evaluate`` that
replay uses, with ``since`` so that each finding is reported once.

The Hampel filter is centred, so the newest samples of a dense stream are judged with
their right-hand neighbours still to come. Clinical rules therefore look only up to the
last sample whose cleaning is final (``2 × HAMPEL_HALF_WINDOW`` samples back: 4 s at
1 Hz), or up to ``now`` once the stream has paused or for spot readings. That keeps the
live findings identical to a replay of the same samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from numpy.typing import ArrayLike

from gateway import wire
from gateway.signal.clean import HAMPEL_HALF_WINDOW, SPIKE_FLOOR, SPIKE_MAX_GAP_S, clean
from gateway.signal.findings import Finding, RuleState
from gateway.signal.rules import Rule, evaluate, sort_findings
from gateway.signal.series import Series
from gateway.signal.window import Appended, Windows


def settled(series: Series, metric: wire.Metric, now: float) -> float:
    """The latest time up to which cleaning will not change as more samples arrive."""
    lookahead = 2 * HAMPEL_HALF_WINDOW
    if (
        metric not in SPIKE_FLOOR
        or len(series) <= lookahead
        or now - series.t[-1] > SPIKE_MAX_GAP_S
    ):
        return now
    tail = series.t[-(lookahead + 1) :]
    if tail[-1] - tail[0] > lookahead * SPIKE_MAX_GAP_S:
        return now  # spot readings, not a stream
    return float(tail[0])


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
        horizon = settled(series, metric, now)
        found: list[Finding] = []
        for i, rule in enumerate(self.rules):
            if rule.patient_id != patient_id or rule.metric != metric:
                continue
            at = now if getattr(rule, "category", None) is wire.Category.MISSING_DATA else horizon
            since = self._since.get(i)
            if since is not None and at <= since:
                continue
            result = evaluate(rule, series, now=at, since=since, state=self._state.get(i))
            self._state[i], self._since[i] = result.state, at
            found += result.findings
        return sort_findings(found)
