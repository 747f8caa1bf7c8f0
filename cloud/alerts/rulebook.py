"""Which rules judge which patient: a program's defaults, or rules from a file.

Rules are ``gateway.signal`` rules, so an alert in the cloud means exactly what it means on
the gateway and in a replay. A rules file is a JSON list in the ``gateway.signal.ruleset``
form; a rule without ``patient_id`` (or with ``"*"``) applies to every patient.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gateway.signal.programs import default_rules
from gateway.signal.rules import Rule
from gateway.signal.ruleset import rule_from_dict

ANY_PATIENT = "*"


class RuleBookError(ValueError):
    """A rules file or program that cannot be used; the message says which and why."""


def read_rules(path: Path) -> list[Mapping[str, Any]]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RuleBookError(f"cannot read rules from {path}: {exc}") from exc
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise RuleBookError(f"{path}: expected a JSON list of rule objects")
    return data


def patient_rules(
    patient_id: str, *, program: str, rule_dicts: Sequence[Mapping[str, Any]] | None
) -> tuple[Rule, ...]:
    """One patient's rules: the program's defaults, or the given rules made theirs."""
    if rule_dicts is None:
        return default_rules(program, patient_id)
    rules: list[Rule] = []
    for data in rule_dicts:
        if data.get("patient_id", ANY_PATIENT) not in (ANY_PATIENT, patient_id):
            continue
        rule = rule_from_dict({**data, "patient_id": patient_id})
        rules.append(replace(rule, patient_id=patient_id))
    return tuple(rules)


@dataclass
class RuleBook:
    """Rules per patient, built once per patient and cached."""

    program: str = "general"
    rule_dicts: Sequence[Mapping[str, Any]] | None = None
    _cache: dict[str, tuple[Rule, ...]] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, *, program: str, rules_file: Path | None) -> RuleBook:
        book = cls(program, read_rules(rules_file) if rules_file else None)
        book.for_patient("validation")  # refuse a bad program or rule at start-up, not at 3 a.m.
        book._cache.clear()
        return book

    def for_patient(self, patient_id: str) -> tuple[Rule, ...]:
        rules = self._cache.get(patient_id)
        if rules is None:
            rules = patient_rules(patient_id, program=self.program, rule_dicts=self.rule_dicts)
            self._cache[patient_id] = rules
        return rules
