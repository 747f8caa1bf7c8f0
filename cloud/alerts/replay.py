"""Alert burden: what a program's rules would have fired over a history of readings.

The same ``gateway.signal`` cleaning and rule evaluation as the gateway and live ingest,
applied to every patient in a file of wire readings. Rules come from the program's
defaults, or from a rules file (JSON list of rules in the ``gateway.signal.ruleset`` form;
a rule without ``patient_id``, or with ``"*"``, applies to every patient).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gateway import wire
from gateway.signal.findings import Finding, FindingKind
from gateway.signal.programs import default_rules
from gateway.signal.replay import history_from_readings, replay
from gateway.signal.rules import Rule
from gateway.signal.ruleset import rule_from_dict

ANY_PATIENT = "*"


class ReplayError(ValueError):
    """The readings or rules file cannot be used; the message names the line or rule."""


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


def read_rules(path: Path) -> list[Mapping[str, Any]]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ReplayError(f"cannot read rules from {path}: {exc}") from exc
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ReplayError(f"{path}: expected a JSON list of rule objects")
    return data


def rules_for(
    patients: Sequence[str], *, program: str, rule_dicts: Sequence[Mapping[str, Any]] | None
) -> list[Rule]:
    """Each patient's rules: the program's defaults, or the given rules made theirs."""
    rules: list[Rule] = []
    for patient_id in patients:
        if rule_dicts is None:
            rules += default_rules(program, patient_id)
            continue
        for data in rule_dicts:
            owner = data.get("patient_id", ANY_PATIENT)
            if owner not in (ANY_PATIENT, patient_id):
                continue
            rule = rule_from_dict({**data, "patient_id": patient_id})
            rules.append(replace(rule, patient_id=patient_id))
    return rules


def burden(
    readings: Iterable[wire.Reading],
    *,
    program: str,
    rule_dicts: Sequence[Mapping[str, Any]] | None = None,
) -> list[Finding]:
    """Every alert (fire) the rules produce over the readings, in time order."""
    history = history_from_readings(readings)
    rules = rules_for(history.patients(), program=program, rule_dicts=rule_dicts)
    return [f for f in replay(rules, history) if f.kind is FindingKind.FIRE]
