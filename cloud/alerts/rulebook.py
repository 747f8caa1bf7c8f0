"""Which rules judge which patient: program defaults (or a rules file) plus the patient's
clinician overrides, each rule active or in shadow mode.

Rules are ``gateway.signal`` rules, so an alert in the cloud means exactly what it means on
the gateway and in a replay. A rules file is a JSON list in the ``gateway.signal.ruleset``
form; a rule without ``patient_id`` (or with ``"*"``) applies to every patient.

An override is ``{"rule_id": …, "mode": "active" | "shadow", <fields>}``: for a rule of the
base set, the fields replace the rule's (a program may lock a rule: then it is refused);
for a new ``rule_id`` it is a whole rule with its ``kind``. The ``RuleBook`` caches each
patient's effective rules and notices a new version (or program) with one query per batch,
so the API and any number of ingest processes agree without a message between them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.store.rules import PatientRuleSet
from cloud.store.tenancy import Patient
from gateway.signal.programs import LOCKED, default_rules
from gateway.signal.rules import Rule
from gateway.signal.ruleset import rule_from_dict, rule_to_dict
from gateway.signal.series import SignalError
from gateway.wire import ID_PATTERN

ANY_PATIENT = "*"


class RuleBookError(ValueError):
    """A rules file, program or override that cannot be used; the message says which and why."""


class RuleLockedError(RuleBookError):
    """An override of a rule its program locks."""


class Mode(StrEnum):
    ACTIVE = "active"
    """Findings open alerts and notify."""
    SHADOW = "shadow"
    """Findings are recorded (``shadow_findings``) and notify no one: trying a rule out."""


OVERRIDE_KEYS: Final = frozenset({"rule_id", "mode"})
RULE_ID: Final = re.compile(ID_PATTERN)
"""Rule ids travel on the wire (``gateway.wire.Identifier``) and key alerts."""
FIXED_FIELDS: Final = ("kind", "metric", "patient_id")
"""What an override of an existing rule may not change (it would be another rule)."""


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


def base_rule_dicts(
    patient_id: str, *, program: str, rule_dicts: Sequence[Mapping[str, Any]] | None
) -> list[dict[str, Any]]:
    """The rules a patient starts from, as dicts: the program's, or a rules file's."""
    try:
        return [
            rule_to_dict(r)
            for r in patient_rules(patient_id, program=program, rule_dicts=rule_dicts)
        ]
    except SignalError as exc:
        raise RuleBookError(str(exc)) from exc


@dataclass(frozen=True, slots=True)
class EffectiveRule:
    rule: Rule
    mode: Mode
    locked: bool
    source: str
    """``program`` (as the base set has it), ``override`` (changed) or ``custom`` (new)."""


@dataclass(frozen=True, slots=True)
class PatientRules:
    """One patient's rules in force: which version of their overrides, and every rule."""

    patient_id: str
    program: str
    version: int
    rules: tuple[EffectiveRule, ...]

    @property
    def evaluable(self) -> tuple[Rule, ...]:
        return tuple(r.rule for r in self.rules)

    @property
    def shadow(self) -> frozenset[str]:
        return frozenset(r.rule.rule_id for r in self.rules if r.mode is Mode.SHADOW)


def effective_rules(
    patient_id: str,
    *,
    program: str,
    rule_dicts: Sequence[Mapping[str, Any]] | None = None,
    overrides: Sequence[Mapping[str, Any]] = (),
    rule_versions: Mapping[str, int] | None = None,
    version: int = 0,
) -> PatientRules:
    """Base rules plus overrides; RuleBookError (RuleLockedError) names what is refused."""
    base = {
        d["rule_id"]: d for d in base_rule_dicts(patient_id, program=program, rule_dicts=rule_dicts)
    }
    locked = LOCKED.get(program, frozenset()) if rule_dicts is None else frozenset()
    merged: dict[str, tuple[dict[str, Any], Mode, str]] = {
        rid: (d, Mode.ACTIVE, "program") for rid, d in base.items()
    }
    seen: set[str] = set()
    for item in overrides:
        rid = item.get("rule_id")
        if not isinstance(rid, str) or not RULE_ID.fullmatch(rid):
            raise RuleBookError(
                "every override needs a rule_id of letters, digits and ._:- "
                "(at most 128 characters)"
            )
        if rid in seen:
            raise RuleBookError(f"rule {rid!r} is overridden twice; give it once")
        seen.add(rid)
        try:
            mode = Mode(item.get("mode", Mode.ACTIVE))
        except ValueError:
            raise RuleBookError(f"rule {rid!r}: mode must be 'active' or 'shadow'") from None
        fields = {k: v for k, v in item.items() if k not in OVERRIDE_KEYS}
        if rid in base:
            if rid in locked:
                raise RuleLockedError(
                    f"rule {rid!r} is locked by the {program} program and cannot be changed "
                    "per patient; add a rule of your own with another rule_id instead"
                )
            for name in FIXED_FIELDS:
                if name in fields and fields[name] != base[rid][name]:
                    raise RuleBookError(
                        f"rule {rid!r}: an override cannot change its {name}; "
                        "add a rule of your own with another rule_id instead"
                    )
            merged[rid] = ({**base[rid], **fields}, mode, "override" if fields else "program")
        else:
            if "kind" not in fields:
                raise RuleBookError(
                    f"rule {rid!r} is not one of the patient's rules; a new rule needs its "
                    "'kind' and fields"
                )
            merged[rid] = ({**fields, "rule_id": rid}, mode, "custom")
    versions = rule_versions or {}
    out: list[EffectiveRule] = []
    for rid, (fields, mode, source) in merged.items():
        data = {**fields, "patient_id": patient_id, "version": int(versions.get(rid, 1))}
        try:
            rule = rule_from_dict(data)
        except SignalError as exc:
            raise RuleBookError(str(exc)) from exc
        out.append(EffectiveRule(rule, mode, rid in locked, source))
    return PatientRules(patient_id, program, version, tuple(out))


def next_rule_versions(
    previous: PatientRules, candidate: PatientRules, *, version: int
) -> dict[str, int]:
    """Each rule's version in rule set ``version``: kept if the rule is unchanged, else
    ``version + 1`` (the program's templates are version 1, i.e. "rule set 0")."""
    before = {r.rule.rule_id: _definition(r.rule) for r in previous.rules}
    kept = {r.rule.rule_id: r.rule.version for r in previous.rules}
    out: dict[str, int] = {}
    for r in candidate.rules:
        rid = r.rule.rule_id
        same = before.get(rid) == _definition(r.rule)
        out[rid] = kept[rid] if same else version + 1
    return out


def _definition(rule: Rule) -> dict[str, Any]:
    return {k: v for k, v in rule_to_dict(rule).items() if k != "version"}


@dataclass
class RuleBook:
    """Rules per patient, built once per patient and cached until their version changes."""

    program: str = "general"
    """The program of a patient the record does not know (or who has none)."""
    rule_dicts: Sequence[Mapping[str, Any]] | None = None
    _cache: dict[str, PatientRules] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, *, program: str, rules_file: Path | None) -> RuleBook:
        book = cls(program, read_rules(rules_file) if rules_file else None)
        book.for_patient("validation")  # refuse a bad program or rule at start-up, not at 3 a.m.
        book._cache.clear()
        return book

    def patient(self, patient_id: str) -> PatientRules:
        rules = self._cache.get(patient_id)
        if rules is None:
            rules = effective_rules(patient_id, program=self.program, rule_dicts=self.rule_dicts)
            self._cache[patient_id] = rules
        return rules

    def for_patient(self, patient_id: str) -> tuple[Rule, ...]:
        return self.patient(patient_id).evaluable

    def is_shadow(self, patient_id: str, rule_id: str) -> bool:
        return rule_id in self.patient(patient_id).shadow

    def invalidate(self, patient_id: str) -> None:
        self._cache.pop(patient_id, None)

    def refresh(self, session: Session, patient_ids: Iterable[str]) -> None:
        """Rebuild the cached rules of those patients whose program or version changed."""
        ids = sorted(set(patient_ids))
        if not ids:
            return
        programs = dict(
            session.execute(select(Patient.id, Patient.program_id).where(Patient.id.in_(ids))).all()
        )
        latest = dict(
            session.execute(
                select(PatientRuleSet.patient_id, func.max(PatientRuleSet.version))
                .where(PatientRuleSet.patient_id.in_(ids))
                .group_by(PatientRuleSet.patient_id)
            ).all()
        )
        for pid in ids:
            program = programs.get(pid) or self.program
            version = int(latest.get(pid) or 0)
            cached = self._cache.get(pid)
            if cached is not None and (cached.program, cached.version) == (program, version):
                continue
            self._cache[pid] = self.load_patient(session, pid, program=program, version=version)

    def load_patient(
        self, session: Session, patient_id: str, *, program: str, version: int
    ) -> PatientRules:
        """A patient's effective rules at ``version`` of their overrides (0: none)."""
        row = None
        if version:
            row = session.scalars(
                select(PatientRuleSet).where(
                    PatientRuleSet.patient_id == patient_id, PatientRuleSet.version == version
                )
            ).first()
        return effective_rules(
            patient_id,
            program=program,
            rule_dicts=self.rule_dicts,
            overrides=row.overrides if row else (),
            rule_versions=row.rule_versions if row else None,
            version=row.version if row else 0,
        )
