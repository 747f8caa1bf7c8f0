"""Alert burden: what a program's rules would have fired over a history of readings.

The same ``gateway.signal`` cleaning, rule evaluation and confirmation as the gateway and
live ingest, applied to every patient in a file of wire readings. Rules come from the
program's defaults, or from a rules file (see ``cloud.alerts.rulebook``). A fire that waits
for a re-measurement, or that a normal re-measurement cancelled, is reported with its status.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from cloud.alerts.rulebook import RuleBookError, patient_rules
from gateway import wire
from gateway.signal.confirm import Decision
from gateway.signal.findings import Finding
from gateway.signal.replay import history_from_readings, replay_decisions
from gateway.signal.rules import Rule


class ReplayError(RuleBookError):
    """The readings file cannot be used; the message names the line."""


def read_readings(lines: Iterable[str]) -> Iterator[wire.Reading]:
    """Wire readings from JSON lines (blank lines skipped); errors name the line number."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield wire.Reading.model_validate_json(line)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "line"
            raise ReplayError(f"readings line {number}: {where}: {first['msg']}") from exc


def burden(
    readings: Iterable[wire.Reading],
    *,
    program: str,
    rule_dicts: Sequence[Mapping[str, Any]] | None = None,
) -> list[Finding]:
    """Every alert the rules would have opened over the readings, in time order."""
    return alerts_of(decisions(readings, program=program, rule_dicts=rule_dicts))


def decisions(
    readings: Iterable[wire.Reading],
    *,
    program: str,
    rule_dicts: Sequence[Mapping[str, Any]] | None = None,
) -> list[Decision]:
    """Every fire and its fate (alerted, pending, cancelled), in time order."""
    return decisions_of(
        readings,
        lambda patient_id: patient_rules(patient_id, program=program, rule_dicts=rule_dicts),
    )


def decisions_of(
    readings: Iterable[wire.Reading], rules_for: Callable[[str], Sequence[Rule]]
) -> list[Decision]:
    """``decisions`` with each patient's rules from ``rules_for(patient_id)``."""
    history = history_from_readings(readings)
    rules = [rule for patient_id in history.patients() for rule in rules_for(patient_id)]
    return list(replay_decisions(rules, history))


def alerts_of(found: Iterable[Decision]) -> list[Finding]:
    """The alerts among decisions, in time order."""
    return sorted((d.alert for d in found if d.alert is not None), key=lambda f: f.ts)


def burden_of(
    readings: Iterable[wire.Reading], rules_for: Callable[[str], Sequence[Rule]]
) -> list[Finding]:
    """Every alert of each patient's rules (``rules_for(patient_id)``), in time order."""
    return alerts_of(decisions_of(readings, rules_for))
