"""Alert burden: what a program's rules would have fired over a history of readings.

The same ``gateway.signal`` cleaning and rule evaluation as the gateway and live ingest,
applied to every patient in a file of wire readings. Rules come from the program's
defaults, or from a rules file (see ``cloud.alerts.rulebook``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from cloud.alerts.rulebook import RuleBookError, patient_rules
from gateway import wire
from gateway.signal.findings import Finding, FindingKind
from gateway.signal.replay import history_from_readings, replay
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
    """Every alert (fire) the rules produce over the readings, in time order."""
    return burden_of(
        readings,
        lambda patient_id: patient_rules(patient_id, program=program, rule_dicts=rule_dicts),
    )


def burden_of(
    readings: Iterable[wire.Reading], rules_for: Callable[[str], Sequence[Rule]]
) -> list[Finding]:
    """Every fire of each patient's rules (``rules_for(patient_id)``), in time order."""
    history = history_from_readings(readings)
    rules = [rule for patient_id in history.patients() for rule in rules_for(patient_id)]
    return [f for f in replay(rules, history) if f.kind is FindingKind.FIRE]
