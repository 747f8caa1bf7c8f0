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

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from numpy.typing import ArrayLike

from gateway import wire
from gateway.signal import confirm
from gateway.signal.clean import HAMPEL_HALF_WINDOW, SPIKE_FLOOR, SPIKE_MAX_GAP_S, clean
from gateway.signal.findings import Finding, FindingKind, RuleState
from gateway.signal.rules import Rule, ThresholdRule, evaluate, sort_findings
from gateway.signal.series import Series
from gateway.signal.window import Appended, Windows

Key = tuple[str, wire.Metric]


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
    """Rules for one gateway's patients, evaluated as samples arrive.

    With ``confirming`` (the default) a fire that ``gateway.signal.confirm`` says must wait is
    held, not reported: each later evaluation of its patient and metric decides it with the
    same ``confirm.decide`` the cloud uses, reporting the confirmed or unconfirmed alert, or
    cancelling it (its reading is then left out of every later evaluation, as
    ``confirm.settle_series`` leaves it out). ``expire`` decides the held findings whose
    window is over when no reading comes.
    """

    rules: Sequence[Rule | wire.ThresholdRule]
    windows: Windows = field(default_factory=Windows)
    confirming: bool = True
    """Hold the fires that wait for a re-measurement (else report every fire at once)."""
    _rules: tuple[Rule, ...] = field(init=False)
    """``rules`` in their evaluable form (a wire threshold made a ``ThresholdRule``)."""
    _state: dict[int, RuleState] = field(default_factory=dict, init=False)
    _since: dict[int, float] = field(default_factory=dict, init=False)
    _held: dict[Key, list[tuple[int, Finding]]] = field(default_factory=dict, init=False)
    _cancelled: dict[Key, list[float]] = field(default_factory=dict, init=False)
    _upto: dict[Key, float] = field(default_factory=dict, init=False)
    """How far each (patient, metric) has been evaluated (its clinical rules' horizon)."""

    def __post_init__(self) -> None:
        self._rules = tuple(
            ThresholdRule.from_wire(r) if isinstance(r, wire.ThresholdRule) else r
            for r in self.rules
        )

    @classmethod
    def following(cls, previous: Monitor, rules: Sequence[Rule | wire.ThresholdRule]) -> Monitor:
        """A monitor of a new rule set that takes over from ``previous``: the same windows
        (baselines need no new warm-up), and nothing reported twice. A rule it already ran
        keeps its state and held fires; a new or changed rule starts where its patient and
        metric were evaluated up to, with the state the window gives it there."""
        new = cls(rules, windows=previous.windows, confirming=previous.confirming)
        new._cancelled = {k: list(v) for k, v in previous._cancelled.items()}
        new._upto = dict(previous._upto)
        # By repr: equal rules have equal reprs, and a kind with a list field still works.
        old = {repr(rule): i for i, rule in enumerate(previous._rules)}
        moved: dict[int, int] = {}
        for i, rule in enumerate(new._rules):
            j = old.get(repr(rule))
            if j is not None:
                moved[j] = i
                if j in previous._since:
                    new._state[i], new._since[i] = previous._state[j], previous._since[j]
                continue
            key = (rule.patient_id, rule.metric)
            upto = previous._upto.get(key)
            if upto is None:
                continue
            raw = clean(previous.windows.get(*key).series(), rule.metric, now=upto).series
            series = confirm.exclude(raw, new._cancelled.get(key, ()))
            new._state[i], new._since[i] = evaluate(rule, series, now=upto).state, upto
        for key, held in previous._held.items():
            new._held[key] = [(moved[j], f) for j, f in held if j in moved]
        return new

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

    @property
    def held(self) -> list[Finding]:
        """The fires waiting for a re-measurement, oldest first."""
        return sorted((f for fs in self._held.values() for _, f in fs), key=lambda f: f.ts)

    def expire(self, *, now: float) -> tuple[Finding, ...]:
        """Alerts of the held findings whose confirmation window is over at ``now``."""
        found: list[Finding] = []
        for key, held in list(self._held.items()):
            if any(confirm.expired(confirm.deadline(self._rules[i], f), now=now) for i, f in held):
                found += self.evaluate(*key, now=now)
        return sort_findings(found)

    def evaluate(self, patient_id: str, metric: wire.Metric, *, now: float) -> tuple[Finding, ...]:
        """New findings for this patient and metric (call it without samples for stale data)."""
        key = (patient_id, metric)
        raw = clean(self.windows.get(patient_id, metric).series(), metric, now=now).series
        horizon = settled(raw, metric, now)
        mine = [i for i, r in enumerate(self._rules) if (r.patient_id, r.metric) == key]
        first = float(raw.t[0]) if len(raw) else -math.inf
        cancelled = [ts for ts in self._cancelled.get(key, ()) if ts >= first]
        states = {i: self._state.get(i) for i in mine}
        held = list(self._held.get(key, ()))
        for _ in range(confirm.MAX_PASSES):
            series = confirm.exclude(raw, cancelled)
            found, fires, done = self._run(mine, series, states, now=now, horizon=horizon)
            gone = set(cancelled)
            waiting = [(i, f) for i, f in held if f.ts not in gone] + fires
            decisions = [confirm.decide(self._rules[i], f, series, now=horizon) for i, f in waiting]
            fresh = sorted(
                {d.finding.ts for d in decisions if d.outcome is confirm.Outcome.CANCELLED}
            )
            if not fresh:
                break
            # Left out from now on, as ``confirm.settle_series`` leaves it out; a rule whose
            # carried state had seen it starts again from the window without it.
            cancelled += fresh
            series = confirm.exclude(raw, cancelled)
            for i in mine:
                since = self._since.get(i)
                if since is not None and fresh[0] <= since:
                    states[i] = evaluate(self._rules[i], series, now=since).state
        for i, (state, at) in done.items():
            self._state[i], self._since[i] = state, at
        for i in mine:  # a state made again after a cancellation, for a rule not run now
            recomputed = states.get(i)
            if i not in done and recomputed is not None:
                self._state[i] = recomputed
        pending = [
            (i, f)
            for (i, f), d in zip(waiting, decisions, strict=True)
            if d.outcome is confirm.Outcome.PENDING
        ]
        self._held[key] = pending
        self._cancelled[key] = cancelled
        self._upto[key] = max(horizon, self._upto.get(key, -math.inf))
        alerts = [d.alert for d in decisions if d.alert is not None]
        return sort_findings(found + alerts)

    def _run(
        self,
        mine: Sequence[int],
        series: Series,
        states: Mapping[int, RuleState | None],
        *,
        now: float,
        horizon: float,
    ) -> tuple[list[Finding], list[tuple[int, Finding]], dict[int, tuple[RuleState, float]]]:
        """One pass over the rules from where each stopped: the findings to report, the
        fires to hold, and each rule's new (state, time evaluated up to)."""
        found: list[Finding] = []
        fires: list[tuple[int, Finding]] = []
        done: dict[int, tuple[RuleState, float]] = {}
        for i in mine:
            rule = self._rules[i]
            at = now if getattr(rule, "category", None) is wire.Category.MISSING_DATA else horizon
            since = self._since.get(i)
            if since is not None and at <= since:
                continue
            result = evaluate(rule, series, now=at, since=since, state=states.get(i))
            done[i] = (result.state, at)
            for f in result.findings:
                wait = f.kind is FindingKind.FIRE and confirm.needs_confirmation(rule, f)
                if self.confirming and wait:
                    fires.append((i, f))
                else:
                    found.append(f)
        return found, fires, done
