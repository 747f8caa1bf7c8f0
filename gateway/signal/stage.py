"""The signal stage of the running gateway: edge findings and per-minute rollups.

It sits between the device manager and the outbox (the pipeline in docs/architecture.md). Each batch of wire
readings feeds a ``Monitor`` that holds the cloud config's threshold rules; its findings
become events for ``…/events``, with their evidence. Continuous streams (a strap's heart
rate, an oximeter's continuous SpO2 and pulse) are aggregated per minute into rollups for
``…/rollups`` once the minute is over. Not thread-safe: one batch at a time (the gateway's
outbox writer calls it from a worker thread, as the numpy work blocks).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from gateway import wire
from gateway.signal.clean import clean, device_usable
from gateway.signal.monitor import Monitor
from gateway.signal.rollup import rollup, to_wire
from gateway.signal.series import MINUTE, Series

STREAM_SOURCES: Final = frozenset({"2a37", "2a5f"})
"""Characteristics that stream (Heart Rate Measurement, PLX Continuous Measurement): their
readings are rolled up per minute; spot measurements are not."""
ROLLUP_GRACE_S: Final = 5.0
"""A minute's rollup waits this long after the minute for late samples."""

Key = tuple[str, str, wire.Metric]
"""(device, patient, metric) of one stream."""


@dataclass(slots=True)
class _Minute:
    start: float
    t: list[float] = field(default_factory=list)
    v: list[float] = field(default_factory=list)
    usable: list[bool] = field(default_factory=list)


def _epoch(r: wire.Reading) -> float:
    return r.ts.timestamp()


class EdgeStage:
    """Findings and rollups of the readings passing through one gateway."""

    def __init__(self, rules: Sequence[wire.ThresholdRule] = (), *, rollups: bool = True) -> None:
        self.rollups = rollups
        """Make rollups (else only findings)."""
        self.rules: tuple[wire.ThresholdRule, ...] = ()
        self.monitor = Monitor(())
        self.watched: frozenset[tuple[str, wire.Metric]] = frozenset()
        self.set_rules(rules)
        self._open: dict[Key, _Minute] = {}
        self._closed: dict[Key, float] = {}
        """The start of each stream's last rolled-up minute: a rollup is made once."""
        self.late = 0
        """Stream samples that arrived after their minute's rollup was made (still sent as
        readings, not in any rollup)."""

    def set_rules(self, rules: Sequence[wire.ThresholdRule]) -> None:
        """Take the config's rules; unchanged rules keep their windows and state."""
        rules = tuple(rules)
        if rules == self.rules:
            return
        self.rules = rules
        self.monitor = Monitor(rules)  # one assignment: a batch under way keeps the old one
        self.watched = frozenset((r.patient_id, r.metric) for r in rules)

    def observe(
        self, readings: Sequence[wire.Reading], *, now: float
    ) -> tuple[list[wire.Event], list[wire.Rollup]]:
        """New findings as events, and the rollups of every minute now over (``now``: UTC
        epoch seconds)."""
        monitor, watched = self.monitor, self.watched
        groups: dict[tuple[str, wire.Metric], list[wire.Reading]] = defaultdict(list)
        rollups: list[wire.Rollup] = []
        for r in readings:
            if (r.patient_id, r.metric) in watched:
                groups[(r.patient_id, r.metric)].append(r)
            if self.rollups and r.quality.source in STREAM_SOURCES:
                rollups += self._add(r)
        events: list[wire.Event] = []
        for (patient, metric), rs in groups.items():
            _, found = monitor.ingest(
                patient,
                metric,
                [_epoch(r) for r in rs],
                [r.value for r in rs],
                [device_usable(r.quality.flags, r.quality.usable) for r in rs],
                now=now,
            )
            events += [f.to_event() for f in found]
        rollups += self.flush(now=now)
        return events, rollups

    def flush(self, *, now: float) -> list[wire.Rollup]:
        """Rollups of the minutes over by ``now`` (with the grace for late samples)."""
        done = [k for k, m in self._open.items() if m.start + MINUTE + ROLLUP_GRACE_S <= now]
        return [r for k in done for r in self._close(k)]

    def _add(self, r: wire.Reading) -> list[wire.Rollup]:
        key = (r.device_id, r.patient_id, r.metric)
        t = _epoch(r)
        start = math.floor(t / MINUTE) * MINUTE
        out: list[wire.Rollup] = []
        minute = self._open.get(key)
        if minute is not None and start > minute.start:
            out = self._close(key)
            minute = None
        elif (minute is not None and start < minute.start) or start <= self._closed.get(
            key, -math.inf
        ):
            self.late += 1
            return out
        if minute is None:
            minute = self._open[key] = _Minute(start)
        minute.t.append(t)
        minute.v.append(r.value)
        minute.usable.append(device_usable(r.quality.flags, r.quality.usable))
        return out

    def _close(self, key: Key) -> list[wire.Rollup]:
        minute = self._open.pop(key)
        self._closed[key] = minute.start
        device_id, patient_id, metric = key
        series = clean(Series.of(minute.t, minute.v, minute.usable), metric).series
        return to_wire(
            rollup(series, period=MINUTE), patient_id=patient_id, device_id=device_id, metric=metric
        )
